//! Operational routes: liveness, readiness, runtimes, Prometheus metrics.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use crate::sandbox::{Limits, RUNTIMES};

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready once the runtimes are compiled and the pool holds an instance.
///
/// The KV store is reported, not required: with Redis down every replica
/// would otherwise leave the balancer together, though only runs that use
/// a shared namespace need it. Its state shows as `"kv"` and as
/// `"status": "degraded"` (still 200), and in `/metrics`.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.sandbox().pool_status();
    let pool_warm =
        pool.is_some_and(|(ready, _)| ready > 0) || state.config().server.pool_size == 0;
    let ready = state.is_ready() && pool_warm;
    let (pool_ready, pool_size) = pool.unwrap_or((0, state.config().server.pool_size));
    let kv = &state.capabilities().kv;
    let kv_state = kv.ping().await;
    let status = match (ready, &kv_state) {
        (false, _) => "starting",
        (true, Ok(())) => "ready",
        (true, Err(_)) => "degraded",
    };
    let body = Json(json!({
        "status": status,
        "pool": {"ready": pool_ready, "size": pool_size},
        "kv": match &kv_state {
            Ok(()) => json!({"backend": kv.backend(), "reachable": true}),
            Err(e) => json!({"backend": kv.backend(), "reachable": false, "error": e.to_string()}),
        },
    }));
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

fn limits_json(l: &Limits) -> Value {
    json!({
        "timeout_ms": l.timeout.as_millis() as u64,
        "memory_mb": l.memory_bytes >> 20,
        "fuel": l.fuel,
        "max_output_bytes": l.max_output_bytes,
        "max_stdin_bytes": l.max_stdin_bytes,
    })
}

/// The languages, and the limits as they apply to the caller (a tenant's
/// ceilings may be lower than the server's).
pub async fn runtimes(Extension(Caller(tenant)): Extension<Caller>) -> Json<Value> {
    let limits = tenant.limits();
    let languages: Vec<Value> = RUNTIMES
        .iter()
        .map(|(name, version)| json!({"name": name, "version": version, "pooled": *name == "python"}))
        .collect();
    Json(json!({
        "default_language": RUNTIMES[0].0,
        "languages": languages,
        "limits": {"default": limits_json(&limits.default), "maximum": limits_json(&limits.ceiling)},
        "tenant": tenant.name(),
    }))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Some((ready, size)) = state.sandbox().pool_status() {
        metrics::gauge!("goru_pool_ready", "language" => "python").set(ready as f64);
        metrics::gauge!("goru_pool_size", "language" => "python").set(size as f64);
    }
    metrics::gauge!("goru_queue_depth").set(state.admission().queue_depth() as f64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.0.metrics.render(),
    )
}
