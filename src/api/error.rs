//! The API's one error type: a status, a stable code, a message that names
//! the field and the limit, and never anything internal on a 5xx.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::SandboxError;
use crate::host::{GrantError, GrantFault};
use crate::runner::RunError;
use crate::tenant::{AuthError, QuotaError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("content-type must be application/json")]
    UnsupportedMediaType,
    #[error("no route for {path}")]
    NotFound { path: String },
    /// A KV key that is not there (or expired).
    #[error("no such key {key:?} in namespace {namespace:?}")]
    NoSuchKey { namespace: String, key: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A session id that names no live session (unknown, expired, deleted).
    #[error("{message}")]
    SessionNotFound { message: String },
    /// A session id naming another replica: the balancer sent it here wrongly.
    #[error("{message}")]
    Misdirected { message: String },
    /// A session that an earlier cell ended.
    #[error("{message}")]
    Gone { message: String },
    /// A per-server limit (live sessions) is reached.
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
    /// Another cell of the session is running.
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after_secs: u64,
    },
    /// The client took too long to send its request.
    #[error("{message}")]
    RequestTimeout { message: String },
    /// No key, or one that is not valid.
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    /// A grant (or a route) beyond what the calling tenant may have or the
    /// server offers.
    #[error("{message}")]
    Forbidden {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// The calling tenant's own rate or concurrency limit.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// The shared KV store (Redis) is down or slow: try again.
    #[error("{message}")]
    KvUnavailable { message: String },
    /// The real error is logged with the run id; the client sees nothing of it.
    #[error("internal error")]
    Internal,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn bad(
        code: &'static str,
        field: impl Into<Option<String>>,
        message: impl Into<String>,
    ) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            field: field.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            Self::NoSuchKey { .. } => (StatusCode::NOT_FOUND, "no_such_key"),
            Self::SessionNotFound { .. } => (StatusCode::NOT_FOUND, "session_not_found"),
            Self::Gone { .. } => (StatusCode::GONE, "session_ended"),
            Self::Misdirected { .. } => (StatusCode::MISDIRECTED_REQUEST, "wrong_replica"),
            Self::TooMany { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_sessions"),
            Self::Conflict { .. } => (StatusCode::CONFLICT, "cell_running"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::RequestTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::KvUnavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "kv_unavailable"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// A body that could not be read: too large (413) or broken.
    pub fn from_body_rejection(
        rejection: axum::extract::rejection::BytesRejection,
        limit: usize,
    ) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::BodyTooLarge { limit }
        } else {
            Self::bad("invalid_body", None, rejection.body_text())
        }
    }

    /// A tenant over its own rate or concurrency limit.
    pub fn rate_limited(e: QuotaError, tenant: &str) -> Self {
        metrics::counter!("goru_rejected_total", "reason" => e.reason(), "tenant" => tenant.to_owned())
            .increment(1);
        Self::RateLimited {
            retry_after_secs: e.retry_after_secs(),
            message: e.to_string(),
        }
    }

    /// Maps a refusal of the run pipeline to the request field it is about.
    pub fn from_run(e: RunError, run_id: &str) -> Self {
        match e {
            RunError::Limit(limit) => Self::from_sandbox(limit.into(), run_id),
            RunError::Grant(grant) => Self::from_grant(grant, run_id),
            RunError::Denied(denied) => Self::Forbidden {
                code: "grant_denied",
                field: Some(format!("policy.{}", denied.field)),
                message: format!("policy.{}", denied.message),
            },
            RunError::Files(files) => Self::bad("invalid_file", files.field(), files.to_string()),
            RunError::Sandbox(e) => Self::from_sandbox(e, run_id),
            RunError::SessionEnded { .. } => Self::Gone {
                message: e.to_string(),
            },
            RunError::CellBusy => Self::Conflict {
                message: e.to_string(),
            },
        }
    }

    fn from_grant(e: GrantError, run_id: &str) -> Self {
        let field = format!("policy.{}", e.field);
        let message = format!("policy.{}", e.message);
        match e.fault {
            GrantFault::Server => {
                tracing::error!(run_id, error = %e, "a grant failed on the host side");
                Self::Internal
            }
            // Asking for more than is offered is refused as a tenant asking
            // beyond its grants is: 403, naming the field.
            GrantFault::NotOffered => Self::Forbidden {
                code: if e.field == "functions" {
                    "unknown_function"
                } else {
                    "grant_denied"
                },
                field: Some(field),
                message,
            },
            GrantFault::Invalid => Self::bad("invalid_grant", field, message),
        }
    }

    /// Maps a sandbox refusal to the request field it is about.
    pub fn from_sandbox(e: SandboxError, run_id: &str) -> Self {
        match e {
            SandboxError::Limit(limit) => {
                let field = match limit.field() {
                    "stdin" => "stdin".to_owned(),
                    other => format!("policy.{other}"),
                };
                Self::bad("limit_exceeded", field, limit.to_string())
            }
            SandboxError::UnknownLanguage { .. } => {
                Self::bad("unknown_language", "language".to_owned(), e.to_string())
            }
            SandboxError::SessionsUnsupported { .. } => {
                Self::bad("sessions_unsupported", "language".to_owned(), e.to_string())
            }
            SandboxError::FilesRefused { .. } => {
                Self::bad("invalid_file", "files".to_owned(), e.to_string())
            }
            SandboxError::FilesUnsupported { .. } => {
                Self::bad("files_unsupported", "files".to_owned(), e.to_string())
            }
            SandboxError::SessionEnded => Self::Gone {
                message: e.to_string(),
            },
            // Every instance slot stayed busy past the wait: saturation, not a bug.
            SandboxError::Wasmtime { ref source, .. }
                if source
                    .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                metrics::counter!("goru_rejected_total", "reason" => "no_instance_slot")
                    .increment(1);
                Self::Overloaded {
                    message: "server is saturated: no sandbox instance slot came free".into(),
                    retry_after_secs: 1,
                }
            }
            other => {
                tracing::error!(run_id, error = ?other, "run could not be attempted");
                Self::Internal
            }
        }
    }
}

impl ApiError {
    /// The JSON body: `{"error": {code, message, field}}`.
    pub fn body(&self) -> serde_json::Value {
        let (_, code) = self.status_and_code();
        let field = match self {
            Self::BadRequest { field, .. } | Self::Forbidden { field, .. } => field.as_deref(),
            _ => None,
        };
        let body = Body {
            error: Detail {
                code,
                message: self.to_string(),
                field,
            },
        };
        serde_json::to_value(body).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let mut response = (status, Json(self.body())).into_response();
        if matches!(self, Self::Unauthorized(_)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::Overloaded {
            retry_after_secs, ..
        }
        | Self::TooMany {
            retry_after_secs, ..
        }
        | Self::RateLimited {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if matches!(self, Self::KvUnavailable { .. }) {
            // Each call waits at most kv.redis_timeout_ms: a second is plenty.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        response
    }
}
