//! The allow-listed HTTP capability: `http_request`, `http_get`, `http_post`.
//!
//! A run may reach only the hosts in its `allowed_hosts` ([`HostPattern`]s),
//! over http or https, and only at public addresses unless the operator
//! allow-lists an internal one ([`HttpConfig::allow_addresses`]). Every hop,
//! redirects included, is checked the same way:
//!
//! 1. the URL's scheme, length and credentials (`ValueError`);
//! 2. its host and port against `allowed_hosts` (`PermissionError`);
//! 3. DNS is resolved once and *every* address checked: loopback, private,
//!    link-local (cloud metadata), CGNAT, unique-local, multicast and other
//!    special ranges are refused, IPv4-mapped IPv6 judged as its IPv4;
//! 4. the connection goes to exactly those addresses (a pinned resolver; no
//!    proxy, no second lookup), with the host's secret headers added.
//!
//! Redirects are followed by hand up to `max_redirects`: 303, and 301/302
//! after POST, become a bodiless GET as in browsers; 307/308 keep method and
//! body. A guest may not set `Host`, `Content-Length`, `Transfer-Encoding` or
//! hop-by-hop headers (ValueError). A response body past
//! `max_response_body_bytes` is cut there and flagged `"truncated": true`
//! rather than refused, so a guest still gets the status and the start of a
//! large page. Each call, redirects and body included, is bounded by
//! `min(call_timeout, run deadline - now)`; a run makes at most
//! `max_calls_per_run` calls (refused ones count).
//!
//! Result: `{"status", "headers": {lowercased name: value}, "body" (lossy
//! UTF-8), "truncated", "url" (after redirects)}`.

mod address;
mod client;
mod config;
mod error;
mod pattern;
mod policy;
mod request;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use reqwest::Method;
use serde_json::Value;

pub use address::AddressListError;
pub use config::{HttpConfig, HttpConfigError, SecretHeader};
pub use error::HttpError;
pub use pattern::{HostPattern, PatternError};

use crate::host::{HostCalls, HostError};
use policy::Policy;
use request::GuestRequest;

/// The host functions [`register`] adds, for preludes and docs.
pub const FUNCTIONS: [&str; 3] = ["http_request", "http_get", "http_post"];

/// Adds the HTTP functions to one run's `calls`.
///
/// `http_request` takes `{"method", "url", "headers": {..}|null, "body":
/// str|null}`; `http_get` and `http_post` take the same without `method`.
/// The call budget is shared by the three and lives as long as `calls`.
/// `config` should have passed [`HttpConfig::validate`] at start-up; if it
/// did not, every call fails with PermissionError instead of running with a
/// policy other than the one written.
pub fn register(
    calls: &mut HostCalls,
    config: Arc<HttpConfig>,
    allowed_hosts: Vec<HostPattern>,
    deadline: Instant,
) {
    let policy = Policy::new(&config, allowed_hosts).map_err(|e| {
        tracing::error!(error = %e, "invalid HTTP configuration; HTTP calls will be refused");
    });
    let ctx = Arc::new(Context {
        config,
        policy: policy.ok(),
        deadline,
        calls: AtomicU32::new(0),
    });
    for (name, method) in [
        ("http_request", None),
        ("http_get", Some(Method::GET)),
        ("http_post", Some(Method::POST)),
    ] {
        let ctx = ctx.clone();
        calls.add(name, move |args: Value| {
            let ctx = ctx.clone();
            let method = method.clone();
            async move { ctx.call(&args, method).await.map_err(HostError::from) }
        });
    }
}

/// One run's HTTP state.
struct Context {
    config: Arc<HttpConfig>,
    /// `None` when the configuration is invalid: fail closed.
    policy: Option<Policy>,
    deadline: Instant,
    calls: AtomicU32,
}

impl Context {
    async fn call(&self, args: &Value, method: Option<Method>) -> Result<Value, HttpError> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        if n >= self.config.max_calls_per_run {
            // Undo so the counter cannot wrap on a guest calling forever.
            self.calls.fetch_sub(1, Ordering::Relaxed);
            return Err(HttpError::TooManyCalls {
                max: self.config.max_calls_per_run,
            });
        }
        let Some(policy) = &self.policy else {
            return Err(HttpError::Unavailable);
        };
        let req = GuestRequest::from_args(args, method, &self.config)?;
        let budget = self
            .config
            .call_timeout
            .min(self.deadline.saturating_duration_since(Instant::now()));
        tokio::time::timeout(budget, client::fetch(&self.config, policy, req))
            .await
            .map_err(|_| HttpError::Timeout(budget))?
    }
}
