//! KV: string values in named namespaces, always available to a run.
//!
//! A run without `kv_namespace` gets a private namespace that dies with it; a
//! run naming one shares it with every run (and every `/kv` client) that names
//! it. Stores sit behind [`KvStore`]: the in-memory one, or Redis when
//! several replicas share namespaces (`kv.backend`), with the same limits
//! and the same host functions.

mod config;
mod functions;
mod memory;
mod redis;
mod scoped;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use config::{KvBackend, KvSettings, OpenError};
pub use functions::register;
pub use memory::MemoryKv;
pub use redis::{RedisKv, RedisSettings};

pub use scoped::ScopedKv;

/// Limits every store enforces, with errors that name the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvLimits {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    pub max_keys_per_namespace: usize,
    pub max_bytes_per_namespace: usize,
    /// Shared namespaces held at once (a run's private one is not counted).
    pub max_namespaces: usize,
    /// Bytes (keys and values) across every shared namespace.
    pub max_total_bytes: usize,
}

impl KvLimits {
    /// A key's own limits, checked before any store is asked.
    pub fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.is_empty() {
            return Err(KvError::EmptyKey);
        }
        if key.len() > self.max_key_bytes {
            return Err(KvError::KeyTooLong {
                len: key.len(),
                max: self.max_key_bytes,
            });
        }
        Ok(())
    }

    /// A write's key and value, checked before any store is asked.
    pub fn check_entry(&self, key: &str, value: &str) -> Result<(), KvError> {
        self.check_key(key)?;
        if value.len() > self.max_value_bytes {
            return Err(KvError::ValueTooLarge {
                len: value.len(),
                max: self.max_value_bytes,
            });
        }
        Ok(())
    }
}

/// What one tenant's namespaces may hold together, under the store's limits;
/// 0 = no limit of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeQuota {
    pub max_bytes: usize,
    pub max_namespaces: usize,
}

impl Default for KvLimits {
    fn default() -> Self {
        Self {
            max_key_bytes: 512,
            max_value_bytes: 1 << 20,
            max_keys_per_namespace: 10_000,
            max_bytes_per_namespace: 64 << 20,
            max_namespaces: 10_000,
            max_total_bytes: 1 << 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("namespace {0:?} is invalid: use 1 to 128 characters from A-Z a-z 0-9 _ . : -")]
    InvalidNamespace(String),
    #[error("key is empty")]
    EmptyKey,
    #[error("key is {len} bytes, above the limit of {max}")]
    KeyTooLong { len: usize, max: usize },
    #[error("value is {len} bytes, above the limit of {max}")]
    ValueTooLarge { len: usize, max: usize },
    #[error("namespace {namespace:?} holds {max} keys, the limit")]
    TooManyKeys { namespace: String, max: usize },
    #[error("namespace {namespace:?} would hold {would} bytes, above the limit of {max}")]
    NamespaceFull {
        namespace: String,
        would: usize,
        max: usize,
    },
    #[error("{max} namespaces exist, the limit (kv.max_namespaces)")]
    TooManyNamespaces { max: usize },
    #[error("the KV store would hold {would} bytes, above its limit of {max} (kv.max_total_bytes)")]
    StoreFull { would: usize, max: usize },
    #[error(
        "this tenant's namespaces would hold {would} bytes, above its limit of {max} (kv_max_bytes)"
    )]
    TenantFull { would: usize, max: usize },
    #[error("this tenant has {max} namespaces, its limit (kv_max_namespaces)")]
    TenantNamespaces { max: usize },
    #[error("ttl_seconds must be a positive number, at most {max}")]
    InvalidTtl { max: u64 },
    /// The store could not be reached; the call did nothing (or nothing
    /// that can be known): the caller may try again.
    #[error("the KV store is unavailable ({reason}); try again later")]
    Unavailable { reason: String },
    /// The store did not answer in time.
    #[error("the KV store did not answer within {ms} ms (kv.redis_timeout_ms); try again later")]
    Timeout { ms: u64 },
}

impl KvError {
    /// The store failed, not the request: the same call may succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Timeout { .. })
    }
}

/// Longest TTL accepted (a year); longer is a typo, not a cache policy.
pub const MAX_TTL_SECS: u64 = 365 * 24 * 3600;

/// A KV backend. Each method is one atomic step: concurrent writers to one
/// key never interleave inside a `set`.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync + std::fmt::Debug {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError>;
    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<(), KvError>;
    /// Whether the key existed.
    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError>;
    /// Keys starting with `prefix`, sorted.
    async fn keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, KvError>;
    /// Reclaims what expired in namespaces nobody wrote to since; called
    /// periodically. Stores that expire by themselves do nothing.
    fn sweep(&self) {}
    /// The backend's name, for `/readyz` and metrics.
    fn backend(&self) -> &'static str {
        "memory"
    }
    /// Whether the store answers now (`/readyz`).
    async fn ping(&self) -> Result<(), KvError> {
        Ok(())
    }
}

pub fn check_namespace(namespace: &str) -> Result<(), KvError> {
    let ok = (1..=128).contains(&namespace.len())
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        Err(KvError::InvalidNamespace(namespace.to_owned()))
    }
}

/// A name as a store keeps it: a namespace, or a tenant's scope and its
/// namespace joined by `/` (see [`ScopedKv`]).
pub fn check_stored_namespace(stored: &str) -> Result<(), KvError> {
    let valid = match stored.split_once('/') {
        Some((scope, namespace)) => {
            check_namespace(scope).is_ok() && check_namespace(namespace).is_ok()
        }
        None => check_namespace(stored).is_ok(),
    };
    if valid {
        Ok(())
    } else {
        Err(KvError::InvalidNamespace(stored.to_owned()))
    }
}

pub fn check_ttl(seconds: f64) -> Result<Duration, KvError> {
    if seconds.is_finite() && seconds > 0.0 && seconds <= MAX_TTL_SECS as f64 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(KvError::InvalidTtl { max: MAX_TTL_SECS })
    }
}
