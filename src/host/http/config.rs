//! The operator's HTTP settings: internal addresses, secret headers and caps.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use super::address::{AddressAllowList, AddressListError};
use super::pattern::{HostPattern, PatternError};

/// Server-wide HTTP settings; each run adds its own `allowed_hosts`.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Private or special addresses (`10.0.0.5`, `127.0.0.1/32`) guests may
    /// reach anyway, for internal services. Empty: public addresses only.
    pub allow_addresses: Vec<String>,
    /// Headers added host-side to requests whose host matches; guests never see them.
    pub secrets: Vec<SecretHeader>,
    pub max_url_bytes: usize,
    pub max_request_body_bytes: usize,
    /// Response bodies past this are cut to it and flagged `"truncated": true`.
    pub max_response_body_bytes: usize,
    pub max_calls_per_run: u32,
    /// Per call, redirects included; a call never outlives its run's deadline.
    pub call_timeout: Duration,
    pub max_redirects: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allow_addresses: Vec::new(),
            secrets: Vec::new(),
            max_url_bytes: 8192,
            max_request_body_bytes: 1 << 20,
            max_response_body_bytes: 4 << 20,
            max_calls_per_run: 32,
            call_timeout: Duration::from_secs(10),
            max_redirects: 5,
        }
    }
}

/// A header the host adds to every request whose host matches `host` (a
/// [`HostPattern`]; same port rules). Re-checked on every redirect hop.
#[derive(Clone)]
pub struct SecretHeader {
    pub host: String,
    pub header: String,
    pub value: String,
}

/// Secret values stay out of logs and debug dumps.
impl fmt::Debug for SecretHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHeader")
            .field("host", &self.host)
            .field("header", &self.header)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// A setting in [`HttpConfig`] that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HttpConfigError {
    #[error(transparent)]
    Address(#[from] AddressListError),
    #[error("secret for host {host:?}: {source}")]
    SecretHost {
        host: String,
        #[source]
        source: PatternError,
    },
    #[error("secret for host {host:?}: invalid header name {header:?}")]
    SecretName { host: String, header: String },
    #[error(
        "secret for host {host:?}: header {header:?} has a value that is not a valid header value"
    )]
    SecretValue { host: String, header: String },
}

/// A secret, parsed once per run.
#[derive(Clone)]
pub(super) struct Secret {
    pub pattern: HostPattern,
    pub name: HeaderName,
    pub value: HeaderValue,
}

impl HttpConfig {
    /// Checks every entry; call at start-up so a typo fails there instead of
    /// silently granting less at run time.
    pub fn validate(&self) -> Result<(), HttpConfigError> {
        self.address_allow_list()?;
        self.parsed_secrets()?;
        Ok(())
    }

    pub(super) fn address_allow_list(&self) -> Result<AddressAllowList, AddressListError> {
        AddressAllowList::parse(&self.allow_addresses)
    }

    pub(super) fn parsed_secrets(&self) -> Result<Vec<Secret>, HttpConfigError> {
        self.secrets
            .iter()
            .map(|s| {
                let pattern = s
                    .host
                    .parse()
                    .map_err(|source| HttpConfigError::SecretHost {
                        host: s.host.clone(),
                        source,
                    })?;
                let name = HeaderName::from_bytes(s.header.trim().as_bytes()).map_err(|_| {
                    HttpConfigError::SecretName {
                        host: s.host.clone(),
                        header: s.header.clone(),
                    }
                })?;
                let mut value =
                    HeaderValue::from_str(&s.value).map_err(|_| HttpConfigError::SecretValue {
                        host: s.host.clone(),
                        header: s.header.clone(),
                    })?;
                value.set_sensitive(true);
                Ok(Secret {
                    pattern,
                    name,
                    value,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(host: &str, header: &str, value: &str) -> SecretHeader {
        SecretHeader {
            host: host.into(),
            header: header.into(),
            value: value.into(),
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        assert!(HttpConfig::default().validate().is_ok());
    }

    #[test]
    fn a_bad_entry_fails_validation_naming_it() {
        let bad = |config: HttpConfig, want: &str| {
            let e = config
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(want), "{e}");
        };
        bad(
            HttpConfig {
                allow_addresses: vec!["10.0.0.0/33".into()],
                ..HttpConfig::default()
            },
            "10.0.0.0/33",
        );
        bad(
            HttpConfig {
                secrets: vec![secret("https://x", "authorization", "t")],
                ..HttpConfig::default()
            },
            "https://x",
        );
        bad(
            HttpConfig {
                secrets: vec![secret("x.com", "bad name", "t")],
                ..HttpConfig::default()
            },
            "bad name",
        );
        bad(
            HttpConfig {
                secrets: vec![secret("x.com", "authorization", "a\r\nb")],
                ..HttpConfig::default()
            },
            "authorization",
        );
    }

    #[test]
    fn debug_output_redacts_secret_values() {
        let s = format!("{:?}", secret("x.com", "authorization", "hunter2"));
        assert!(!s.contains("hunter2") && s.contains("redacted"), "{s}");
    }
}
