//! Why an HTTP call failed, and the Python exception each reason becomes.

use std::net::IpAddr;
use std::time::Duration;

use crate::host::{HostError, HostErrorKind};

/// A failed `http_*` call. Every message is written for the guest: it names
/// the host and the rule, and never carries header values or host internals.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("arguments: {0}")]
    BadArgument(String),
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("URL is {len} bytes, above the limit of {max}")]
    UrlTooLong { len: usize, max: usize },
    #[error("scheme {0:?} is not allowed: only http and https")]
    Scheme(String),
    #[error("method {0:?} is not allowed: use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS")]
    Method(String),
    #[error("header {name:?}: {reason}")]
    Header { name: String, reason: &'static str },
    #[error("request body is {len} bytes, above the limit of {max}")]
    BodyTooLarge { len: usize, max: usize },
    #[error("host {host:?} is not in allowed_hosts")]
    HostNotAllowed { host: String },
    #[error(
        "host {host:?} port {port} is not in allowed_hosts (a pattern without a port allows only the scheme's default port)"
    )]
    PortNotAllowed { host: String, port: u16 },
    /// The address itself is the operator's to know (it may map the
    /// internal network): the guest learns only its kind.
    #[error(
        "host {host:?} resolves to a {reason} address, which is not allowed: only public addresses unless allow-listed by the operator"
    )]
    AddressNotAllowed {
        host: String,
        /// For the operator's log, never in the message.
        addr: IpAddr,
        reason: &'static str,
    },
    #[error("HTTP is unavailable: the server's HTTP configuration is invalid")]
    Unavailable,
    #[error("limit of {max} HTTP calls per run reached")]
    TooManyCalls { max: u32 },
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    #[error("could not resolve host {host:?}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("host {host:?} resolves to no address")]
    NoAddress { host: String },
    #[error("connection to {host:?} failed: {cause}")]
    Connect {
        host: String,
        /// A short, guest-safe description of the innermost cause.
        cause: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("redirect from {host:?} has an unusable Location: {reason}")]
    BadRedirect { host: String, reason: String },
    #[error("more than {max} redirects")]
    TooManyRedirects { max: u32 },
}

impl HttpError {
    /// The Python exception this failure raises in the guest.
    pub fn kind(&self) -> HostErrorKind {
        match self {
            Self::BadArgument(_) => HostErrorKind::Type,
            Self::BadUrl { .. }
            | Self::UrlTooLong { .. }
            | Self::Scheme(_)
            | Self::Method(_)
            | Self::Header { .. }
            | Self::BodyTooLarge { .. } => HostErrorKind::Value,
            Self::HostNotAllowed { .. }
            | Self::PortNotAllowed { .. }
            | Self::AddressNotAllowed { .. }
            | Self::TooManyCalls { .. }
            | Self::Unavailable => HostErrorKind::Permission,
            Self::Timeout(_) => HostErrorKind::Timeout,
            // OSError is the base of Python's ConnectionError: the closest
            // existing kind, so the registry needs no new variant.
            Self::Resolve { .. }
            | Self::NoAddress { .. }
            | Self::Connect { .. }
            | Self::BadRedirect { .. }
            | Self::TooManyRedirects { .. } => HostErrorKind::Os,
        }
    }
}

impl From<HttpError> for HostError {
    fn from(e: HttpError) -> Self {
        HostError::new(e.kind(), e.to_string())
    }
}
