//! `/kv/{namespace}[/{key}]`: seed inputs and read results outside runs, with
//! the same store and the same limits the guests' `kv_*` functions have.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use super::run::check_content_type;
use crate::host::kv::{KvError, KvStore, check_namespace, check_ttl};
use crate::tenant::Tenant;

fn kv_error(e: KvError) -> ApiError {
    if e.is_unavailable() {
        return ApiError::KvUnavailable {
            message: e.to_string(),
        };
    }
    let field = match &e {
        KvError::InvalidNamespace(_)
        | KvError::TooManyNamespaces { .. }
        | KvError::TenantNamespaces { .. } => "namespace",
        KvError::EmptyKey | KvError::KeyTooLong { .. } | KvError::TooManyKeys { .. } => "key",
        KvError::ValueTooLarge { .. }
        | KvError::NamespaceFull { .. }
        | KvError::StoreFull { .. }
        | KvError::TenantFull { .. } => "value",
        KvError::InvalidTtl { .. } => "ttl_seconds",
        KvError::Unavailable { .. } | KvError::Timeout { .. } => "namespace",
    };
    ApiError::bad("kv_limit", field.to_owned(), e.to_string())
}

/// The store as the caller sees it: its own namespaces, and only those it
/// may use.
fn store(state: &AppState, tenant: &Tenant, namespace: &str) -> Result<Arc<dyn KvStore>, ApiError> {
    // Refused by name on every route, reads included: a name no write can
    // make is a 400, not an empty namespace.
    check_namespace(namespace).map_err(kv_error)?;
    tenant
        .kv_store(&state.capabilities().kv, namespace)
        .map_err(|denied| ApiError::Forbidden {
            code: "namespace_denied",
            field: Some(denied.field),
            message: denied.message,
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    prefix: String,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
    Path(namespace): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let _place = state.admission().enter_kv().await?;
    let keys = store(&state, &tenant, &namespace)?
        .keys(&namespace, &q.prefix)
        .await
        .map_err(kv_error)?;
    Ok(Json(json!({"namespace": namespace, "keys": keys})))
}

pub async fn get(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
    Path((namespace, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let _place = state.admission().enter_kv().await?;
    match store(&state, &tenant, &namespace)?
        .get(&namespace, &key)
        .await
        .map_err(kv_error)?
    {
        Some(value) => Ok(Json(
            json!({"namespace": namespace, "key": key, "value": value}),
        )),
        None => Err(ApiError::NoSuchKey { namespace, key }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    value: String,
    ttl_seconds: Option<f64>,
}

pub async fn put(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
    Path((namespace, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    check_content_type(&headers)?;
    let body = body.map_err(|r| ApiError::from_body_rejection(r, state.body_limit()))?;
    let body: PutBody = super::run::decode_json(&body)?;
    let ttl = body
        .ttl_seconds
        .map(check_ttl)
        .transpose()
        .map_err(kv_error)?;
    let _place = state.admission().enter_kv().await?;
    store(&state, &tenant, &namespace)?
        .set(&namespace, &key, body.value, ttl)
        .await
        .map_err(kv_error)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(Caller(tenant)): Extension<Caller>,
    Path((namespace, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let _place = state.admission().enter_kv().await?;
    let deleted = store(&state, &tenant, &namespace)?
        .delete(&namespace, &key)
        .await
        .map_err(kv_error)?;
    Ok(Json(json!({"deleted": deleted})))
}
