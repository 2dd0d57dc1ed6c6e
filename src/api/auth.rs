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
    let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    let tenant = match tenants.authenticate(header) {
        Ok(tenant) => tenant,
        Err(e) => {
            // The key itself is never logged, nor its hash.
            metrics::counter!("goru_auth_failures_total", "reason" => auth_reason(&e)).increment(1);
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

fn auth_reason(e: &crate::tenant::AuthError) -> &'static str {
    match e {
        crate::tenant::AuthError::Missing => "missing",
        crate::tenant::AuthError::Malformed => "malformed",
        crate::tenant::AuthError::Invalid => "invalid",
    }
}
