//! Every client error is JSON. Handlers answer [`ApiError`]s, but axum's own
//! extractors answer some refusals in plain text before a handler runs (a
//! path that is not UTF-8, a query string that does not decode): those are
//! rewritten here into the same `{"error": {"code", "message"}}` shape.
//! `/mcp` is left as its MCP library answers it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Plain-text refusals are one line; more is not read.
const MAX_TEXT: usize = 4096;

pub async fn json_errors(req: Request, next: Next) -> Response {
    let mcp = req.uri().path().starts_with("/mcp");
    let response = next.run(req).await;
    if mcp || !response.status().is_client_error() || is_json(&response) {
        return response;
    }
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), MAX_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = if text.starts_with("Failed to deserialize query string") {
        "invalid_query"
    } else if status == StatusCode::BAD_REQUEST {
        "invalid_path"
    } else {
        "bad_request"
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("bad request")
            .to_owned()
    } else {
        text
    };
    let mut answer = ApiError::bad(code, None, message).into_response();
    *answer.status_mut() = status;
    answer
}

fn is_json(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == HeaderValue::from_static("application/json"))
}
