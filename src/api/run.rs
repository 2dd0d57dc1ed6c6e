//! `POST /run`: decode and check the request, wait for a slot, run, answer.
//! HTTP 200 whenever the run happened, whatever the guest did.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};

use axum::response::Response;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::lenient::{ObjectsOnly, null_as_default, object_or_null, objects_or_null, whole_number};
use super::stream;
use crate::host::fs::MountRequest;
use crate::host::{Grants, GrantsUsed};
use crate::runner::{FileError, RunError, RunSpec};
use crate::sandbox::{InputFile, LimitRequest, OutputSink, RunResult, Status, Truncated};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    pub code: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub stdin: Option<String>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub policy: Policy,
    /// Placed in the working directory (`/work`) before the code runs.
    #[serde(default, deserialize_with = "objects_or_null")]
    pub files: Vec<FileBody>,
}

/// A file sent with a request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    /// Relative to the working directory, e.g. `data/in.csv`.
    pub path: String,
    pub content: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub encoding: Encoding,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    Base64,
}

/// Standard padded base64, as openapi.yaml's pattern describes it. Unused
/// bits in the last character are ignored, as Python's `b64decode` does;
/// whitespace is refused, so the pattern and the decoder agree exactly.
const FILE_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Decodes request files; a bad entry is named.
pub(crate) fn decode_files(files: Vec<FileBody>) -> Result<Vec<InputFile>, FileError> {
    use base64::Engine;
    files
        .into_iter()
        .enumerate()
        .map(|(index, f)| {
            let content = match f.encoding {
                Encoding::Utf8 => f.content.into_bytes(),
                Encoding::Base64 => {
                    FILE_BASE64
                        .decode(&f.content)
                        .map_err(|_| FileError::Encoding {
                            index,
                            encoding: "base64",
                        })?
                }
            };
            Ok(InputFile {
                path: f.path,
                content,
            })
        })
        .collect()
}

/// Per-run limits and capability grants.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default, deserialize_with = "whole_number")]
    pub timeout_ms: Option<u64>,
    #[serde(default, deserialize_with = "whole_number")]
    pub memory_mb: Option<u64>,
    #[serde(default, deserialize_with = "whole_number")]
    pub fuel: Option<u64>,
    #[serde(default, deserialize_with = "whole_number")]
    pub max_output_bytes: Option<u64>,
    /// Custom functions this run may call, by name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub functions: Vec<String>,
    /// Hosts `http_*` may reach: `api.example.com`, `*.example.com`, `host:8443`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub allowed_hosts: Vec<String>,
    /// A shared KV namespace; without one the run's KV is private to it.
    #[serde(default)]
    pub kv_namespace: Option<String>,
    /// Configured mount points by name, with the guest path and mode.
    #[serde(default, deserialize_with = "objects_or_null")]
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
    Extension(Caller(tenant)): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    check_content_type(&headers)?;
    let body = body.map_err(|r| ApiError::from_body_rejection(r, state.body_limit()))?;
    let body = decode(&body)?;
    let (sink, output) = stream::channel(&headers);
    let checked = to_spec(body, sink, tenant.clone())
        .and_then(|spec| state.runner().check(spec))
        .map_err(|e| ApiError::from_run(e, &run_id))?;
    let audit = Audit {
        tenant: tenant.name_arc(),
        language: checked.language().to_owned(),
        grants: checked.grants_used().clone(),
    };

    let admitted = state.admit(&tenant).await?;
    // The run's grants are built as it starts, after the wait, so
    // time-bounded grants (HTTP calls) count from its real start.
    let finish = async move {
        let outcome = tokio::select! {
            outcome = checked.run() => outcome,
            () = state.hard_stop().cancelled() => Ok(state.ended_by_shutdown()),
        };
        let result = outcome.map_err(|e| ApiError::from_run(e, &run_id))?;
        record_run(&run_id, &audit, &result);
        Ok(RunResponse { run_id, result })
    };
    stream::answer(finish, output, admitted).await
}

/// Who ran what, with which grants: the run's audit line.
pub(crate) struct Audit {
    pub tenant: std::sync::Arc<str>,
    pub language: String,
    pub grants: GrantsUsed,
}

/// Metrics and the audit line of a finished run or cell: one line per run.
pub(crate) fn record_run(run_id: &str, audit: &Audit, result: &RunResult) {
    let status = result.status.as_str();
    let (tenant, language) = (audit.tenant.to_string(), audit.language.clone());
    metrics::counter!("goru_runs_total", "tenant" => tenant.clone(), "language" => language.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("goru_run_duration_seconds", "tenant" => tenant, "language" => language)
        .record(result.duration.as_secs_f64());
    // Never the code or its output at info level.
    let grants = &audit.grants;
    tracing::info!(
        target: "goru::audit",
        tenant = %audit.tenant,
        run_id,
        language = %audit.language,
        functions = %grants.functions,
        allowed_hosts = %grants.allowed_hosts,
        kv_namespace = %grants.kv_namespace,
        mounts = %grants.mounts,
        status,
        duration_ms = result.duration.as_secs_f64() * 1000.0,
        "run finished"
    );
}

/// Counts a run in flight until dropped, also when the client hangs up and
/// the handler's future is dropped mid-run.
pub(crate) struct InFlight;

impl InFlight {
    pub(crate) fn enter() -> Self {
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
/// Anything after the one JSON value (`{...} xyz`, `{...}{...}`) is refused:
/// a body means one request, not the first of several.
pub(super) fn decode_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = decode_one(&mut de)?;
    de.end().map_err(|e| {
        ApiError::bad(
            "invalid_json",
            None,
            format!("request body has bytes after its JSON value: {e}"),
        )
    })?;
    Ok(value)
}

fn decode_one<T: serde::de::DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<T, ApiError> {
    let mut track = serde_path_to_error::Track::new();
    let decoded = T::deserialize(ObjectsOnly(serde_path_to_error::Deserializer::new(
        &mut *de, &mut track,
    )));
    decoded
        .map_err(|inner| serde_path_to_error::Error::new(track.path(), inner))
        .map_err(|e| {
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
            } else if path == "." {
                // The body itself: an array, a string, a number.
                ApiError::bad(
                    "invalid_body",
                    None,
                    format!("the request body must be a JSON object: {message}"),
                )
            } else {
                ApiError::bad("invalid_field", path.clone(), format!("{path}: {message}"))
            }
        })
}

const MIB: u64 = 1 << 20;

fn to_spec(
    body: RunBody,
    sink: Option<OutputSink>,
    tenant: std::sync::Arc<crate::tenant::Tenant>,
) -> Result<RunSpec, RunError> {
    let (limits, grants) = body.policy.split();
    Ok(RunSpec {
        code: body.code,
        language: body.language,
        stdin: body.stdin.unwrap_or_default().into_bytes(),
        limits,
        grants,
        files: decode_files(body.files)?,
        sink,
        tenant: Some(tenant),
    })
}

impl Policy {
    /// The limits asked for and the grants asked for.
    pub fn split(self) -> (LimitRequest, Grants) {
        let limits = LimitRequest {
            timeout: self.timeout_ms.map(Duration::from_millis),
            memory_bytes: self.memory_mb.map(|mb| mb.saturating_mul(MIB)),
            fuel: self.fuel,
            max_output_bytes: self.max_output_bytes,
        };
        let grants = Grants {
            functions: self.functions,
            allowed_hosts: self.allowed_hosts,
            kv_namespace: self.kv_namespace,
            mounts: self.mounts,
            ..Grants::default()
        };
        (limits, grants)
    }
}

/// What a run still going at the end of the shutdown grace period gets.
pub(super) fn ended_by_shutdown(since: Option<Instant>) -> RunResult {
    RunResult {
        status: Status::Cancelled,
        stdout: String::new(),
        stderr: String::new(),
        error: None,
        result: None,
        // As a process stopped by SIGTERM.
        exit_code: 143,
        reason: Some("the server shut down before the run finished".to_owned()),
        duration: since.map(|t| t.elapsed()).unwrap_or_default(),
        fuel_used: None,
        peak_memory_bytes: 0,
        truncated: Truncated::default(),
        files: Vec::new(),
        images: Vec::new(),
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
    fn bytes_after_the_body_are_refused() {
        for body in [r#"{"code": ""} xyz"#, r#"{"code": ""}{"code": ""}"#] {
            assert_eq!(field_of(body), ("invalid_json".into(), None), "{body}");
        }
        assert!(decode(b"{\"code\": \"\"} \n").is_ok());
        assert_eq!(
            field_of(r#"[{"code": ""}]"#),
            ("invalid_body".into(), None),
            "an array is not a request"
        );
    }

    #[test]
    fn broken_json_is_invalid_json() {
        assert_eq!(field_of("{"), ("invalid_json".into(), None));
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        fn json() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                "\\PC{0,8}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                    prop::collection::btree_map(
                        prop::sample::select(vec![
                            "code",
                            "language",
                            "stdin",
                            "policy",
                            "files",
                            "timeout_ms",
                            "memory_mb",
                            "path",
                            "content",
                            "encoding",
                            "x"
                        ])
                        .prop_map(str::to_owned),
                        inner,
                        0..6
                    )
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Any bytes are a request or a 400 naming why; never a panic.
            #[test]
            fn any_bytes_decode_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
                if let Err(e) = decode(&bytes) {
                    prop_assert!(matches!(e, ApiError::BadRequest { .. }), "{e:?}");
                }
            }

            /// JSON shaped like a request: decoded only when it is an object
            /// with a string `code`.
            #[test]
            fn json_decodes_only_as_an_object_with_code(value in json()) {
                let bytes = serde_json::to_vec(&value).unwrap();
                match decode(&bytes) {
                    Ok(body) => prop_assert_eq!(Some(body.code.as_str()), value.get("code").and_then(|c| c.as_str())),
                    Err(e) => prop_assert!(matches!(e, ApiError::BadRequest { .. }), "{e:?}"),
                }
            }
        }
    }
}
