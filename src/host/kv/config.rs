//! `[kv]`: which store holds shared namespaces, and its limits.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::redis::{RedisKv, RedisSettings};
use super::{KvLimits, KvStore, MemoryKv, ScopeQuota};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvBackend {
    /// In this process: one replica's namespaces, gone when it stops.
    Memory,
    /// A Redis server every replica shares; survives goru restarts.
    Redis,
}

/// `[kv]`. The limits sit beside the backend settings (`kv.max_key_bytes`,
/// `kv.backend`), as they always have.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "Wire")]
pub struct KvSettings {
    pub backend: KvBackend,
    /// `redis://[user:password@]host:port[/db]` (TLS, `rediss://`, is not
    /// built in: reach a TLS-only Redis through a local TLS tunnel).
    pub redis_url: String,
    /// Connections to Redis, each multiplexing many calls.
    pub redis_pool_size: usize,
    /// How long one KV call may wait for Redis before the guest gets an error.
    pub redis_timeout_ms: u64,
    /// How long one attempt to (re)connect may take.
    pub redis_connect_timeout_ms: u64,
    /// Every Redis key goru writes starts with this and `:`; deployments
    /// sharing one Redis use different prefixes.
    pub redis_key_prefix: String,
    #[serde(flatten)]
    pub limits: KvLimits,
}

/// `[kv]` as written: the backend's settings, and the rest for
/// [`KvLimits`], which refuses an unknown key by name (serde's `flatten`
/// alone would let a misspelt limit through unnoticed).
#[derive(Deserialize)]
#[serde(default)]
struct Wire {
    backend: KvBackend,
    redis_url: String,
    redis_pool_size: usize,
    redis_timeout_ms: u64,
    redis_connect_timeout_ms: u64,
    redis_key_prefix: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Default for Wire {
    fn default() -> Self {
        let d = KvSettings::default();
        Self {
            backend: d.backend,
            redis_url: d.redis_url,
            redis_pool_size: d.redis_pool_size,
            redis_timeout_ms: d.redis_timeout_ms,
            redis_connect_timeout_ms: d.redis_connect_timeout_ms,
            redis_key_prefix: d.redis_key_prefix,
            rest: serde_json::Map::new(),
        }
    }
}

impl TryFrom<Wire> for KvSettings {
    type Error = serde_json::Error;

    fn try_from(w: Wire) -> Result<Self, Self::Error> {
        Ok(Self {
            backend: w.backend,
            redis_url: w.redis_url,
            redis_pool_size: w.redis_pool_size,
            redis_timeout_ms: w.redis_timeout_ms,
            redis_connect_timeout_ms: w.redis_connect_timeout_ms,
            redis_key_prefix: w.redis_key_prefix,
            limits: serde_json::from_value(serde_json::Value::Object(w.rest))?,
        })
    }
}

impl Default for KvSettings {
    fn default() -> Self {
        Self {
            backend: KvBackend::Memory,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_pool_size: 4,
            redis_timeout_ms: 500,
            redis_connect_timeout_ms: 1000,
            redis_key_prefix: "goru".to_owned(),
            limits: KvLimits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("kv.redis_url is not a Redis address: {0}")]
    RedisUrl(String),
    #[error("kv.redis_key_prefix {0:?} is invalid: use 1 to 64 characters from A-Z a-z 0-9 _ . -")]
    KeyPrefix(String),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl KvSettings {
    /// The store for shared namespaces, with each tenant's quota (by scope).
    /// A Redis store connects lazily: goru starts while Redis is down, and
    /// `/readyz` says so.
    pub fn open(&self, quotas: HashMap<String, ScopeQuota>) -> Result<Arc<dyn KvStore>, OpenError> {
        Ok(match self.backend {
            KvBackend::Memory => Arc::new(MemoryKv::with_quotas(self.limits, quotas)),
            KvBackend::Redis => RedisKv::open(&self.redis_settings()?, self.limits, quotas)?,
        })
    }

    /// Checks the Redis settings (when Redis is the backend) without connecting.
    pub fn validate(&self) -> Result<(), OpenError> {
        if self.backend == KvBackend::Redis {
            let settings = self.redis_settings()?;
            ::redis::Client::open(settings.url.as_str())
                .map_err(|e| OpenError::RedisUrl(e.to_string()))?;
        }
        Ok(())
    }

    fn redis_settings(&self) -> Result<RedisSettings, OpenError> {
        for (name, value) in [
            ("kv.redis_pool_size", self.redis_pool_size as u64),
            ("kv.redis_timeout_ms", self.redis_timeout_ms),
            ("kv.redis_connect_timeout_ms", self.redis_connect_timeout_ms),
        ] {
            if value == 0 {
                return Err(OpenError::Zero(name));
            }
        }
        let prefix = &self.redis_key_prefix;
        let valid = (1..=64).contains(&prefix.len())
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(OpenError::KeyPrefix(prefix.clone()));
        }
        Ok(RedisSettings {
            url: self.redis_url.clone(),
            pool_size: self.redis_pool_size,
            timeout: std::time::Duration::from_millis(self.redis_timeout_ms),
            connect_timeout: std::time::Duration::from_millis(self.redis_connect_timeout_ms),
            key_prefix: prefix.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_backend_share_one_table_and_unknown_keys_are_named() {
        let parsed: KvSettings =
            toml::from_str("backend = \"redis\"\nmax_key_bytes = 64\nredis_pool_size = 2").unwrap();
        assert_eq!(parsed.backend, KvBackend::Redis);
        assert_eq!(parsed.limits.max_key_bytes, 64);
        assert_eq!(
            parsed.limits.max_value_bytes,
            KvLimits::default().max_value_bytes
        );
        assert_eq!(parsed.redis_pool_size, 2);
        let err = toml::from_str::<KvSettings>("max_kee_bytes = 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_kee_bytes"), "{err}");
    }

    #[test]
    fn bad_redis_settings_are_refused_by_name() {
        let redis = |f: fn(&mut KvSettings)| {
            let mut s = KvSettings {
                backend: KvBackend::Redis,
                ..KvSettings::default()
            };
            f(&mut s);
            s.validate().map_err(|e| e.to_string())
        };
        assert!(redis(|_| {}).is_ok());
        let url = redis(|s| s.redis_url = "http://x".into()).unwrap_err();
        assert!(url.contains("kv.redis_url"), "{url}");
        let prefix = redis(|s| s.redis_key_prefix = "a:b".into()).unwrap_err();
        assert!(prefix.contains("kv.redis_key_prefix"), "{prefix}");
        let zero = redis(|s| s.redis_timeout_ms = 0).unwrap_err();
        assert!(zero.contains("kv.redis_timeout_ms"), "{zero}");
        // The memory backend ignores Redis settings.
        let memory = KvSettings {
            redis_url: "http://x".into(),
            ..KvSettings::default()
        };
        assert!(memory.validate().is_ok());
    }
}
