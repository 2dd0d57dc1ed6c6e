//! Who is calling: every request but `/healthz`, `/readyz` (and `/metrics`
//! when it is open) is turned into its tenant here, once, before any route
//! runs. Handlers read the tenant as `Extension<Caller>`; there is no other
//! way for a route to learn who it serves.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::tenant::{MetricsAccess, Tenant};

/// The tenant a request was authenticated as.
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<Tenant>);

/// Routes anyone may reach: probes must work without a key.
fn is_open(path: &str, metrics: MetricsAccess) -> bool {
    matches!(path, "/healthz" | "/readyz") || (path == "/metrics" && metrics == MetricsAccess::Open)
}

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let tenants = state.tenants();
    let path = req.uri().path();
    if is_open(path, tenants.metrics_access()) {
        return next.run(req).await;
    }
    if tenants.loopback_only()
        && let Some(host) = foreign_host(&req)
    {
        metrics::counter!("goru_auth_failures_total", "reason" => "host").increment(1);
        return ApiError::Forbidden {
            code: "forbidden",
            field: None,
            message: format!(
                "Host {host:?} is not a loopback name: a server without API keys answers only \
                 localhost, 127.0.0.1 and [::1] (configure tenants, or auth = \"none\")"
            ),
        }
        .into_response();
    }
    let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    let tenant = match tenants.authenticate(header) {
        Ok(tenant) => tenant,
        Err(e) => {
            // The key itself is never logged, nor its hash.
            metrics::counter!("goru_auth_failures_total", "reason" => e.reason()).increment(1);
            tracing::info!(reason = %e, path, "request refused: not authenticated");
            return ApiError::Unauthorized(e).into_response();
        }
    };
    if path == "/metrics" && !tenant.may_read_metrics() {
        return ApiError::Forbidden {
            code: "forbidden",
            field: None,
            message: format!("tenant {:?} may not read /metrics", tenant.name()),
        }
        .into_response();
    }
    req.extensions_mut().insert(Caller(tenant));
    next.run(req).await
}

/// The request's Host when it names something other than loopback. A web
/// page that rebinds its own name to 127.0.0.1 still sends that name: this
/// is what keeps it from driving a keyless server from a browser.
fn foreign_host(req: &Request) -> Option<String> {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))?;
    let host = host.trim().to_ascii_lowercase();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default().to_owned(),
        None => host.split(':').next().unwrap_or_default().to_owned(),
    };
    let name = name.trim_end_matches('.');
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback).then_some(host)
}
