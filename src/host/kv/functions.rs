//! The guest's `kv_*` functions for one run, bound to that run's namespace.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{KvError, KvStore, check_ttl};
use crate::host::{HostCalls, HostError, HostErrorKind};

/// A refused value is the guest's `ValueError`; a store that cannot be
/// reached is `TimeoutError` or `OSError` (`ConnectionError`'s base), which
/// a guest can catch and retry apart from its own mistakes.
fn to_host(e: KvError) -> HostError {
    let kind = match &e {
        KvError::Timeout { .. } => HostErrorKind::Timeout,
        KvError::Unavailable { .. } => HostErrorKind::Os,
        _ => HostErrorKind::Value,
    };
    HostError::new(kind, e.to_string())
}

fn string_arg<'a>(args: &'a Value, name: &str, function: &str) -> Result<&'a str, HostError> {
    args[name].as_str().ok_or_else(|| {
        HostError::new(
            HostErrorKind::Type,
            format!("{function}: {name} must be a str"),
        )
    })
}

/// Adds `kv_get`, `kv_set`, `kv_delete`, `kv_keys` over `namespace` in `store`.
pub fn register(calls: &mut HostCalls, store: Arc<dyn KvStore>, namespace: String) {
    let ns = Arc::<str>::from(namespace);
    let (s, n) = (store.clone(), ns.clone());
    calls.add("kv_get", move |args| {
        let (s, n) = (s.clone(), n.clone());
        async move {
            let key = string_arg(&args, "key", "kv_get")?;
            Ok(s.get(&n, key)
                .await
                .map_err(to_host)?
                .map_or(Value::Null, Value::String))
        }
    });
    let (s, n) = (store.clone(), ns.clone());
    calls.add("kv_set", move |args| {
        let (s, n) = (s.clone(), n.clone());
        async move {
            let key = string_arg(&args, "key", "kv_set")?;
            let value = string_arg(&args, "value", "kv_set")?.to_owned();
            let ttl = match &args["ttl_seconds"] {
                Value::Null => None,
                v => Some(
                    v.as_f64()
                        .ok_or_else(|| {
                            HostError::new(
                                HostErrorKind::Type,
                                "kv_set: ttl_seconds must be a number",
                            )
                        })
                        .and_then(|secs| check_ttl(secs).map_err(to_host))?,
                ),
            };
            s.set(&n, key, value, ttl).await.map_err(to_host)?;
            Ok(Value::Null)
        }
    });
    let (s, n) = (store.clone(), ns.clone());
    calls.add("kv_delete", move |args| {
        let (s, n) = (s.clone(), n.clone());
        async move {
            let key = string_arg(&args, "key", "kv_delete")?;
            Ok(json!(s.delete(&n, key).await.map_err(to_host)?))
        }
    });
    calls.add("kv_keys", move |args| {
        let (s, n) = (store.clone(), ns.clone());
        async move {
            let prefix = match &args["prefix"] {
                Value::Null => "",
                _ => string_arg(&args, "prefix", "kv_keys")?,
            };
            Ok(json!(s.keys(&n, prefix).await.map_err(to_host)?))
        }
    });
}
