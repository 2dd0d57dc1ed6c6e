//! `[sessions]`: how many may live, how long they may idle and live.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SessionError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Sessions alive at once; past this, creating one answers 429.
    pub max_live: usize,
    /// Idle expiry when a request gives no `ttl_seconds`.
    pub default_ttl_seconds: u64,
    /// The largest `ttl_seconds` a request may ask for.
    pub max_ttl_seconds: u64,
    /// Longest a session lives from its creation, however busy.
    pub max_lifetime_seconds: u64,
    /// How long a cell waits for the session's previous cell before 409.
    pub cell_wait_ms: u64,
    /// This replica's name, put in each session id (`ses_NAME.…`) so a load
    /// balancer can send a session's requests to the replica that holds it;
    /// empty for one replica alone. 1 to 63 of a-z 0-9 - (a pod name fits).
    pub replica: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_live: 16,
            default_ttl_seconds: 600,
            max_ttl_seconds: 3600,
            max_lifetime_seconds: 4 * 3600,
            cell_wait_ms: 2000,
            replica: String::new(),
        }
    }
}

impl SessionConfig {
    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_lifetime_seconds)
    }

    pub fn cell_wait(&self) -> Duration {
        Duration::from_millis(self.cell_wait_ms)
    }

    /// The idle expiry for a request's `ttl_seconds`.
    pub fn ttl(&self, requested: Option<u64>) -> Result<Duration, SessionError> {
        let ttl = requested.unwrap_or(self.default_ttl_seconds);
        if ttl == 0 || ttl > self.max_ttl_seconds {
            return Err(SessionError::TtlOutOfRange {
                value: ttl,
                max: self.max_ttl_seconds,
            });
        }
        Ok(Duration::from_secs(ttl))
    }

    /// Start-up checks, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.default_ttl_seconds == 0 || self.default_ttl_seconds > self.max_ttl_seconds {
            return Err(format!(
                "sessions.default_ttl_seconds = {} must be between 1 and sessions.max_ttl_seconds = {}",
                self.default_ttl_seconds, self.max_ttl_seconds
            ));
        }
        if self.max_lifetime_seconds == 0 {
            return Err("sessions.max_lifetime_seconds must be at least 1".into());
        }
        let replica_ok = self.replica.len() <= 63
            && self
                .replica
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !replica_ok {
            return Err(format!(
                "sessions.replica = {:?} is invalid: use 1 to 63 characters from a-z 0-9 - (or leave it empty)",
                self.replica
            ));
        }
        Ok(())
    }
}
