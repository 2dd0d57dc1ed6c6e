//! Bounds on how long a client may take: a request body must arrive whole
//! within `body_timeout` (a client trickling bytes is cut off, however
//! steadily it trickles), and a request that is not a run must be answered
//! within `request_timeout`. Runs are bounded by their own time limits.
//!
//! The body is read here, before any handler, so a slow client never holds
//! anything but its connection: no run slot, no session, no KV lock.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

/// The routes whose answer waits for guest code, bounded by its time limit.
fn is_run(method: &Method, path: &str) -> bool {
    path == "/mcp"
        || path.starts_with("/mcp/")
        || (method == Method::POST
            && (path == "/run" || path == "/sessions" || path.ends_with("/run")))
}

pub async fn bound(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let server = &state.config().server;
    let body_timeout = Duration::from_millis(server.body_timeout_ms);
    let request_timeout = Duration::from_millis(server.request_timeout_ms);
    let run = is_run(request.method(), request.uri().path());
    let (parts, body) = request.into_parts();
    let limit = state.body_limit();
    let read = tokio::time::timeout(body_timeout, axum::body::to_bytes(body, limit)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            return if is_too_large(e.into_inner().as_ref()) {
                ApiError::BodyTooLarge { limit }.into_response()
            } else {
                ApiError::bad("invalid_body", None, "the request body could not be read")
                    .into_response()
            };
        }
        Err(_) => {
            metrics::counter!("goru_rejected_total", "reason" => "body_timeout").increment(1);
            return ApiError::RequestTimeout {
                message: format!(
                    "the request body did not arrive within {} ms",
                    body_timeout.as_millis()
                ),
            }
            .into_response();
        }
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    if run {
        return next.run(request).await;
    }
    match tokio::time::timeout(request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("goru_rejected_total", "reason" => "request_timeout").increment(1);
            ApiError::Overloaded {
                message: format!(
                    "the request was not answered within {} ms",
                    request_timeout.as_millis()
                ),
                retry_after_secs: 1,
            }
            .into_response()
        }
    }
}

/// Whether reading stopped at the size limit (anywhere in the error chain).
fn is_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}
