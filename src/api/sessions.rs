//! `/sessions`: interpreters that keep their state between cells.
//!
//! `POST /sessions` opens one with a policy fixed for its life;
//! `POST /sessions/{id}/run` runs a cell in it (admitted like any run);
//! `GET`/`DELETE /sessions/{id}` and `GET /sessions` inspect and end them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use axum::response::Response;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::lenient::{object_or_null, objects_or_null, whole_number};
use super::run::{
    Audit, FileBody, Policy, check_content_type, decode_files, decode_json, record_run,
};
use super::stream;
use crate::runner::{CellSpec, SessionSpec};
use crate::sandbox::RunResult;
use crate::session::{Front, Owner, SessionError, SessionInfo};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub policy: Policy,
    /// Idle expiry in seconds; each cell restarts it.
    #[serde(default, deserialize_with = "whole_number")]
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellBody {
    pub code: String,
    #[serde(default)]
    pub stdin: Option<String>,
    /// Placed in the session's working directory before the cell runs.
    #[serde(default, deserialize_with = "objects_or_null")]
    pub files: Vec<FileBody>,
}

/// A cell's answer: the same fields as `/run`, plus the session's state.
#[derive(Debug, Serialize)]
pub struct CellResponse {
    pub run_id: String,
    #[serde(flatten)]
    pub result: RunResult,
    pub session: SessionState,
}

#[derive(Debug, Serialize)]
pub struct SessionState {
    pub id: String,
    pub alive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_reason: Option<String>,
    pub cells_run: u64,
    pub memory_bytes: u64,
    pub expires_at: String,
}

impl From<SessionInfo> for SessionState {
    fn from(info: SessionInfo) -> Self {
        Self {
            id: info.session_id,
            alive: info.alive,
            ended_reason: info.ended_reason,
            cells_run: info.cells_run,
            memory_bytes: info.memory_bytes,
            expires_at: info.expires_at,
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    check_content_type(&headers)?;
    let body = body.map_err(|r| ApiError::from_body_rejection(r, state.body_limit()))?;
    let body: CreateBody = decode_json(&body)?;
    let (limits, grants) = body.policy.split();
    let owner = Owner::new(&tenant, Front::Api);
    let mut spec = SessionSpec {
        language: body.language,
        limits,
        grants,
        tenant: Some(tenant.clone()),
    };
    // What can be refused is refused before waiting; opening takes an
    // instance, so it is admitted like a run.
    state
        .sessions()
        .precheck(&owner, state.runner(), &mut spec, body.ttl_seconds)
        .map_err(|e| ApiError::from_session(e, "-"))?;
    let _admitted = state.admit(&tenant).await?;
    let info = state
        .sessions()
        .create(owner, state.runner(), spec, body.ttl_seconds)
        .await
        .map_err(|e| ApiError::from_session(e, "-"))?;
    tracing::info!(tenant = tenant.name(), session_id = %info.session_id, language = %info.language, "session opened");
    Ok((StatusCode::CREATED, Json(info)))
}

pub async fn list(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
) -> Json<Value> {
    let sessions = state.sessions().list(&Owner::new(&tenant, Front::Api));
    Json(json!({
        "sessions": sessions,
        "max_live": state.sessions().config().max_live,
    }))
}

pub async fn get(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<SessionInfo>, ApiError> {
    state
        .sessions()
        .info(&Owner::new(&tenant, Front::Api), &id)
        .map(Json)
        .map_err(|e| ApiError::from_session(e, "-"))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .sessions()
        .delete(&Owner::new(&tenant, Front::Api), &id)
        .map_err(|e| ApiError::from_session(e, "-"))?;
    tracing::info!(tenant = tenant.name(), session_id = %id, "session deleted");
    Ok(Json(json!({"deleted": true, "session_id": id})))
}

pub async fn run_cell(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    check_content_type(&headers)?;
    let body = body.map_err(|r| ApiError::from_body_rejection(r, state.body_limit()))?;
    let body: CellBody = decode_json(&body)?;
    // An unknown id is refused before waiting for a slot.
    let owner = Owner::new(&tenant, Front::Api);
    let info = state
        .sessions()
        .info(&owner, &id)
        .map_err(|e| ApiError::from_session(e, &run_id))?;
    let files = decode_files(body.files).map_err(|e| ApiError::from_run(e.into(), &run_id))?;
    let (sink, output) = stream::channel(&headers);
    let cell = CellSpec {
        code: body.code,
        stdin: body.stdin.unwrap_or_default().into_bytes(),
        files,
        sink,
    };
    let admitted = state.admit(&tenant).await?;
    let audit = Audit {
        tenant: tenant.name_arc(),
        language: info.language,
        grants: info.grants,
    };
    let finish = async move {
        let ran = tokio::select! {
            ran = state.sessions().run_cell(&owner, &id, cell) => ran,
            () = state.hard_stop().cancelled() => Err(SessionError::Ended {
                id: id.clone(),
                reason: "the server shut down before the cell finished".to_owned(),
            }),
        };
        let (result, info_after) = ran.map_err(|e| ApiError::from_session(e, &run_id))?;
        record_run(&run_id, &audit, &result);
        Ok(CellResponse {
            run_id,
            result,
            session: info_after.into(),
        })
    };
    stream::answer(finish, output, admitted).await
}

impl ApiError {
    pub fn from_session(e: SessionError, run_id: &str) -> Self {
        match e {
            SessionError::NotFound { .. } => Self::SessionNotFound {
                message: e.to_string(),
            },
            SessionError::Ended { .. } => Self::Gone {
                message: e.to_string(),
            },
            SessionError::OtherReplica { .. } => Self::Misdirected {
                message: e.to_string(),
            },
            SessionError::Full {
                retry_after_secs, ..
            }
            | SessionError::TenantFull {
                retry_after_secs, ..
            } => Self::TooMany {
                message: e.to_string(),
                retry_after_secs,
            },
            SessionError::TtlOutOfRange { .. } => {
                Self::bad("invalid_field", "ttl_seconds".to_owned(), e.to_string())
            }
            SessionError::Run(run) => Self::from_run(run, run_id),
        }
    }
}
