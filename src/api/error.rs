//! The API's one error type: a status, a stable code, a message that names
//! the field and the limit, and never anything internal on a 5xx.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::SandboxError;

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
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Overloaded {
        message: String,
        retry_after_secs: u64,
    },
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
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Overloaded { .. } => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let field = match &self {
            Self::BadRequest { field, .. } => field.as_deref(),
            _ => None,
        };
        let body = Body {
            error: Detail {
                code,
                message: self.to_string(),
                field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::Overloaded {
            retry_after_secs, ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}
