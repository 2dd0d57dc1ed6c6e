//! One run's HTTP policy: which hosts it may name, which addresses those may
//! resolve to, and which secret headers ride along to which host.

use std::net::{IpAddr, SocketAddr};

use url::{Host, Url};

use super::address::{self, AddressAllowList};
use super::config::{HttpConfig, HttpConfigError, Secret};
use super::error::HttpError;
use super::pattern::HostPattern;

pub(super) struct Policy {
    hosts: Vec<HostPattern>,
    addresses: AddressAllowList,
    secrets: Vec<Secret>,
}

impl Policy {
    pub fn new(config: &HttpConfig, hosts: Vec<HostPattern>) -> Result<Self, HttpConfigError> {
        Ok(Self {
            hosts,
            addresses: config.address_allow_list()?,
            secrets: config.parsed_secrets()?,
        })
    }

    /// Whether the URL's host and port are in `allowed_hosts`.
    pub fn check_host(&self, url: &Url) -> Result<(), HttpError> {
        let (host, port, default_port) = target(url)?;
        if self
            .hosts
            .iter()
            .any(|p| p.matches(&host, port, default_port))
        {
            return Ok(());
        }
        let name = host.to_string();
        if self.hosts.iter().any(|p| p.matches_host(&host)) {
            Err(HttpError::PortNotAllowed { host: name, port })
        } else {
            Err(HttpError::HostNotAllowed { host: name })
        }
    }

    /// Resolves the URL's host once and checks every address; the caller
    /// connects to exactly these, so DNS cannot change its answer between
    /// the check and the connection.
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, HttpError> {
        let (host, port, _) = target(url)?;
        let addrs: Vec<SocketAddr> = match host {
            Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Host::Domain(name) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|source| HttpError::Resolve {
                    host: name.to_owned(),
                    source,
                })?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(HttpError::NoAddress {
                host: host.to_string(),
            });
        }
        // One bad address refuses the host: connecting to "the good one"
        // would hand the choice to whoever controls the DNS answer.
        for addr in &addrs {
            address::check(addr.ip(), &self.addresses).map_err(|reason| {
                tracing::info!(%host, addr = %addr.ip(), reason, "HTTP to a refused address");
                HttpError::AddressNotAllowed {
                    host: host.to_string(),
                    addr: addr.ip(),
                    reason,
                }
            })?;
        }
        Ok(addrs)
    }

    /// The secret headers for this hop's host and port.
    pub fn secrets_for(&self, url: &Url) -> Vec<&Secret> {
        let Ok((host, port, default_port)) = target(url) else {
            return Vec::new();
        };
        self.secrets
            .iter()
            .filter(|s| s.pattern.matches(&host, port, default_port))
            .collect()
    }
}

/// The URL's host, port, and its scheme's default port.
fn target(url: &Url) -> Result<(Host<&str>, u16, u16), HttpError> {
    let bad = |reason: &str| HttpError::BadUrl {
        url: url.to_string(),
        reason: reason.to_owned(),
    };
    let host = url.host().ok_or_else(|| bad("no host"))?;
    let default_port = match url.scheme() {
        "https" => 443,
        "http" => 80,
        other => return Err(HttpError::Scheme(other.to_owned())),
    };
    Ok((host, url.port().unwrap_or(default_port), default_port))
}
