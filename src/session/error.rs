//! Why a session request could not be served.

use crate::runner::RunError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no live session {id}{}", why.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
    NotFound { id: String, why: Option<String> },
    /// The id names another replica: the request was routed to the wrong one.
    #[error(
        "session {id} lives on replica {replica:?}, and this is {here}: send requests for ses_{replica}.… ids to that replica (the load balancer routes by this tag)"
    )]
    OtherReplica {
        id: String,
        replica: String,
        here: String,
    },
    #[error("session {id} has ended: {reason}")]
    Ended { id: String, reason: String },
    #[error("{max} sessions are live, the most this server keeps; delete one or retry later")]
    Full { max: usize, retry_after_secs: u64 },
    #[error("tenant {tenant:?} has {max} live sessions, its limit; delete one or retry later")]
    TenantFull {
        tenant: String,
        max: usize,
        retry_after_secs: u64,
    },
    #[error("ttl_seconds = {value} is out of range: allowed 1..={max}")]
    TtlOutOfRange { value: u64, max: u64 },
    #[error(transparent)]
    Run(RunError),
}
