//! What `/mcp` does before and after the MCP library answers.
//!
//! - A request with no `Accept` header, or `*/*`, accepts anything (RFC 9110
//!   §12.5.1); the streamable HTTP transport wants both of its media types
//!   named, so they are named for it. An `Accept` that names something else
//!   is left alone and refused (406).
//! - The library answers refusals (406, 415, a body that is not a JSON-RPC
//!   message, a `Host` not allowed) in plain text. MCP clients read JSON-RPC
//!   errors, so those become `{"jsonrpc": "2.0", "id": null, "error": …}`.
//!   A JSON body that is not a JSON-RPC request is a bad request (400), not
//!   an unsupported media type.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The two media types the transport requires a client to accept.
const BOTH: &str = "application/json, text/event-stream";
/// The library's refusals are one line; more is not read.
const MAX_TEXT: usize = 4096;
/// JSON-RPC 2.0's "Invalid Request".
const INVALID_REQUEST: i32 = -32600;

pub async fn normalise(mut req: Request, next: Next) -> Response {
    // Served statelessly: no stream to GET, no session to DELETE.
    if req.method() != Method::POST {
        let mut refused = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "only POST is served at /mcp",
        );
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return refused;
    }
    if accepts_anything(req.headers()) {
        req.headers_mut()
            .insert(header::ACCEPT, HeaderValue::from_static(BOTH));
    }
    let sent_json = is_json(req.headers());
    let response = next.run(req).await;
    if !response.status().is_client_error() || is_json(response.headers()) {
        return response;
    }
    let mut status = response.status();
    let text = axum::body::to_bytes(response.into_body(), MAX_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE && sent_json {
        status = StatusCode::BAD_REQUEST;
    }
    if text.is_empty() {
        error(status, status.canonical_reason().unwrap_or("refused"))
    } else {
        error(status, &text)
    }
}

/// A JSON-RPC error that answers no request in particular.
fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": INVALID_REQUEST, "message": message},
    });
    (status, axum::Json(body)).into_response()
}

fn accepts_anything(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    values.all(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .map(|t| t.split(';').next().unwrap_or_default().trim())
                .all(|t| t == "*/*" || t.is_empty())
        })
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(header::ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn no_accept_or_a_wildcard_accepts_anything() {
        assert!(accepts_anything(&headers(&[])));
        assert!(accepts_anything(&headers(&["*/*"])));
        assert!(accepts_anything(&headers(&["*/*;q=0.8"])));
        assert!(!accepts_anything(&headers(&["text/html"])));
        assert!(!accepts_anything(&headers(&["application/json"])));
        assert!(!accepts_anything(&headers(&["*/*", "text/html"])));
    }

    #[test]
    fn json_is_recognised_with_parameters() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&h));
    }
}
