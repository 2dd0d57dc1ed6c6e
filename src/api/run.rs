//! `POST /run`: decode and check the request, wait for a slot, run, answer.
//! HTTP 200 whenever the run happened, whatever the guest did.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use crate::host::fs::MountRequest;
use crate::host::{GrantError, Grants};
use crate::sandbox::{LimitRequest, RunRequest, RunResult, Status, Truncated};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    pub code: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub stdin: Option<String>,
    #[serde(default)]
    pub policy: Policy,
}

/// Per-run limits and capability grants.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub timeout_ms: Option<u64>,
    pub memory_mb: Option<u64>,
    pub fuel: Option<u64>,
    pub max_output_bytes: Option<u64>,
    /// Custom functions this run may call, by name.
    #[serde(default)]
    pub functions: Vec<String>,
    /// Hosts `http_*` may reach: `api.example.com`, `*.example.com`, `host:8443`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// A shared KV namespace; without one the run's KV is private to it.
    pub kv_namespace: Option<String>,
    /// Configured mount points by name, with the guest path and mode.
    #[serde(default)]
    pub mounts: Vec<MountRequest>,
}

#[derive(Debug, Serialize)]
pub struct RunResponse {
    pub run_id: String,
    #[serde(flatten)]
    pub result: RunResult,
}

pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RunResponse>, ApiError> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    check_content_type(&headers)?;
    let body = body.map_err(|r| ApiError::from_body_rejection(r, state.body_limit()))?;
    let body = decode(&body)?;
    let (mut request, grants) = to_request(body);
    let limits = state
        .sandbox()
        .limits()
        .resolve(&request.limits)
        .map_err(|e| ApiError::from_sandbox(e.into(), &run_id))?;
    let language = request.language.clone().unwrap_or_else(|| "python".into());

    let _slot = state.admission().enter().await?;
    // Built after the wait, so time-bounded grants (HTTP calls) count from
    // the run's real start.
    request.host = state
        .capabilities()
        .grant(grants, Instant::now() + limits.timeout)
        .map_err(|e| grant_error(e, &run_id))?;
    let in_flight = InFlight::enter();
    let outcome = tokio::select! {
        outcome = state.sandbox().run(request) => outcome,
        () = state.hard_stop().cancelled() => Ok(ended_by_shutdown(state.started_at_shutdown())),
    };
    drop(in_flight);
    let result = outcome.map_err(|e| ApiError::from_sandbox(e, &run_id))?;

    let status = result.status.as_str();
    metrics::counter!("goru_runs_total", "language" => language.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("goru_run_duration_seconds", "language" => language.clone())
        .record(result.duration.as_secs_f64());
    // Never the code or its output at info level.
    tracing::info!(
        run_id,
        language,
        status,
        duration_ms = result.duration.as_secs_f64() * 1000.0,
        "run finished"
    );
    Ok(Json(RunResponse { run_id, result }))
}

/// Counts a run in flight until dropped, also when the client hangs up and
/// the handler's future is dropped mid-run.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::gauge!("goru_runs_in_flight").increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("goru_runs_in_flight").decrement(1.0);
    }
}

pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

fn decode(bytes: &[u8]) -> Result<RunBody, ApiError> {
    decode_json(bytes)
}

/// JSON decoding that names the offending field.
pub(super) fn decode_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad(
                "invalid_json",
                None,
                format!("request body is not valid JSON: {inner}"),
            );
        }
        let message = inner.to_string();
        // serde names unknown and missing fields in backticks.
        let named = message.split('`').nth(1).map(str::to_owned);
        let parent = if path == "." {
            String::new()
        } else {
            format!("{path}.")
        };
        if message.starts_with("unknown field") {
            // serde_path_to_error's path already ends at the unknown field.
            let field = path.clone();
            ApiError::bad(
                "unknown_field",
                field.clone(),
                format!("unknown field {field}: {message}"),
            )
        } else if message.starts_with("missing field") {
            let field = format!("{parent}{}", named.unwrap_or_default());
            ApiError::bad(
                "missing_field",
                field.clone(),
                format!("missing required field {field}"),
            )
        } else {
            ApiError::bad("invalid_field", path.clone(), format!("{path}: {message}"))
        }
    })
}

const MIB: u64 = 1 << 20;

fn to_request(body: RunBody) -> (RunRequest, Grants) {
    let p = body.policy;
    let request = RunRequest {
        code: body.code,
        language: body.language,
        stdin: body.stdin.unwrap_or_default().into_bytes(),
        limits: LimitRequest {
            timeout: p.timeout_ms.map(Duration::from_millis),
            memory_bytes: p.memory_mb.map(|mb| mb.saturating_mul(MIB)),
            fuel: p.fuel,
            max_output_bytes: p.max_output_bytes,
        },
        host: Default::default(),
    };
    let grants = Grants {
        functions: p.functions,
        allowed_hosts: p.allowed_hosts,
        kv_namespace: p.kv_namespace,
        mounts: p.mounts,
        opened_mounts: Vec::new(),
    };
    (request, grants)
}

fn grant_error(e: GrantError, run_id: &str) -> ApiError {
    if e.server_side {
        tracing::error!(run_id, error = %e, "a grant failed on the host side");
        return ApiError::Internal;
    }
    let code = match e.field.split(['.', '[']).next().unwrap_or_default() {
        "functions" => "unknown_function",
        _ => "invalid_grant",
    };
    ApiError::bad(
        code,
        format!("policy.{}", e.field),
        format!("policy.{}", e.message),
    )
}

/// What a run still going at the end of the shutdown grace period gets.
fn ended_by_shutdown(since: Option<Instant>) -> RunResult {
    RunResult {
        status: Status::Timeout,
        stdout: String::new(),
        stderr: "goru: the server shut down before the run finished\n".into(),
        error: None,
        exit_code: 124,
        duration: since.map(|t| t.elapsed()).unwrap_or_default(),
        fuel_used: None,
        peak_memory_bytes: 0,
        truncated: Truncated::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(json: &str) -> (String, Option<String>) {
        match decode(json.as_bytes()).unwrap_err() {
            ApiError::BadRequest { code, field, .. } => (code.to_owned(), field),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_nested_field_is_named_with_its_path() {
        assert_eq!(
            field_of(r#"{"code": "", "policy": {"timeout": 5}}"#),
            ("unknown_field".into(), Some("policy.timeout".into()))
        );
    }

    #[test]
    fn a_missing_code_is_named() {
        assert_eq!(
            field_of(r#"{"language": "python"}"#),
            ("missing_field".into(), Some("code".into()))
        );
    }

    #[test]
    fn a_wrongly_typed_limit_is_named() {
        assert_eq!(
            field_of(r#"{"code": "", "policy": {"timeout_ms": "soon"}}"#),
            ("invalid_field".into(), Some("policy.timeout_ms".into()))
        );
    }

    #[test]
    fn broken_json_is_invalid_json() {
        assert_eq!(field_of("{"), ("invalid_json".into(), None));
    }
}
