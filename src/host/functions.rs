//! Custom functions the service offers, each backed by an internal HTTP
//! endpoint named in the config (`[functions.get_user] url = "..."`): the host
//! POSTs the guest's JSON arguments and returns the endpoint's JSON answer.
//! The URL only ever comes from the config, never from a guest or a client.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{HostError, HostErrorKind, Registry};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    /// The endpoint that receives `POST <json args>` and answers JSON.
    pub url: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// What the guest's exception says when the endpoint fails without an
    /// `{"error": "..."}` body of its own.
    #[serde(default)]
    pub error_message: Option<String>,
}

fn default_timeout_ms() -> u64 {
    5000
}

/// A function that cannot be offered as configured.
#[derive(Debug, thiserror::Error)]
#[error("functions.{name}: {why}")]
pub struct FunctionConfigError {
    pub name: String,
    pub why: String,
}

/// Largest answer accepted from an endpoint.
const MAX_RESPONSE_BYTES: usize = 4 << 20;
/// Longest error message from an endpoint passed on to the guest.
const MAX_ERROR_BYTES: usize = 4096;

/// Registers every configured function in `registry`.
pub fn register_remote(
    registry: &mut Registry,
    functions: &BTreeMap<String, FunctionConfig>,
) -> Result<(), FunctionConfigError> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| FunctionConfigError {
            name: "*".into(),
            why: format!("cannot build the HTTP client: {e}"),
        })?;
    for (name, config) in functions {
        let url = reqwest::Url::parse(&config.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| FunctionConfigError {
                name: name.clone(),
                why: format!("url {:?} is not an http(s) URL", config.url),
            })?;
        if config.timeout_ms == 0 {
            return Err(FunctionConfigError {
                name: name.clone(),
                why: "timeout_ms must be at least 1".into(),
            });
        }
        let (client, name_owned, config) = (client.clone(), name.clone(), config.clone());
        registry.register(name.clone(), move |args| {
            call(
                client.clone(),
                url.clone(),
                name_owned.clone(),
                config.clone(),
                args,
            )
        });
    }
    Ok(())
}

async fn call(
    client: reqwest::Client,
    url: reqwest::Url,
    name: String,
    config: FunctionConfig,
    args: Value,
) -> Result<Value, HostError> {
    let timeout = Duration::from_millis(config.timeout_ms);
    let failed = |detail: Option<String>| {
        let message = detail
            .or_else(|| config.error_message.clone())
            .unwrap_or_else(|| format!("function {name:?} failed"));
        HostError::new(HostErrorKind::Other, message)
    };
    let sent = tokio::time::timeout(timeout, async {
        let mut response = client.post(url).json(&args).send().await?;
        let status = response.status();
        // Read with the cap applied as the bytes arrive: an endpoint that
        // streams without end never makes the host hold more than the cap.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Ok(Err(body.len() + chunk.len()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, reqwest::Error>(Ok((status, body)))
    })
    .await;
    let (status, body) = match sent {
        Err(_elapsed) => {
            return Err(HostError::new(
                HostErrorKind::Timeout,
                format!("function {name:?} timed out after {} ms", config.timeout_ms),
            ));
        }
        Ok(Err(e)) => {
            // The operator's log gets the cause; the guest only the function's name.
            tracing::warn!(function = %name, error = %e, "custom function endpoint failed");
            return Err(failed(None));
        }
        Ok(Ok(Err(bytes))) => {
            tracing::warn!(function = %name, bytes, "custom function answer too large");
            return Err(failed(None));
        }
        Ok(Ok(Ok(answer))) => answer,
    };
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if status.is_success() {
        return parsed.ok_or_else(|| {
            tracing::warn!(function = %name, "custom function answered something that is not JSON");
            failed(None)
        });
    }
    tracing::info!(function = %name, status = status.as_u16(), "custom function answered an error");
    // The endpoint's own message reaches the guest: a line's worth of it.
    let own = parsed.and_then(|v| {
        let message = v.get("error").and_then(Value::as_str)?;
        Some(
            crate::sandbox::cut_str(message, MAX_ERROR_BYTES)
                .0
                .to_owned(),
        )
    });
    Err(failed(own))
}
