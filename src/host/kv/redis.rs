//! The Redis KV store: namespaces every replica shares.
//!
//! Each write is one Lua script that checks every limit and writes
//! (`redis/*.lua`), so concurrent writers on any replica never pass a limit
//! together; reads are plain `GET`s. Values carry Redis expiry; the scripts
//! keep the byte and namespace counters exact as entries expire, and a
//! background sweep uncounts what expired where nobody writes again.
//!
//! Every call is bounded by `kv.redis_timeout_ms`: a Redis that is down or
//! slow gives the guest a clear error, never a hung run. Connections come
//! back by themselves when Redis does.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use super::config::OpenError;
use super::{KvError, KvLimits, KvStore, ScopeQuota, check_stored_namespace};

const COMMON: &str = include_str!("redis/common.lua");

/// How often expired entries nobody wrote over are uncounted.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Namespaces one sweep script visits, and entries it removes from each:
/// a script holds up every replica's calls while it runs, so each does at
/// most 2,048 entries (about 10 ms; 64 × 1,024, one entry at a time, took
/// half a second).
const SWEEP_NAMESPACES: usize = 16;
const SWEEP_ENTRIES: usize = 128;
/// Scripts per sweep round, at most (the rest waits for the next round).
const SWEEP_BATCHES: usize = 64;

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    pub pool_size: usize,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub key_prefix: String,
}

struct Scripts {
    set: Script,
    delete: Script,
    keys: Script,
    sweep: Script,
}

impl Scripts {
    fn new() -> Self {
        let with_common = |body: &str| Script::new(&format!("{COMMON}\n{body}"));
        Self {
            set: with_common(include_str!("redis/set.lua")),
            delete: with_common(include_str!("redis/delete.lua")),
            keys: with_common(include_str!("redis/keys.lua")),
            sweep: with_common(include_str!("redis/sweep.lua")),
        }
    }
}

pub struct RedisKv {
    connections: Vec<ConnectionManager>,
    next: AtomicUsize,
    scripts: Scripts,
    limits: KvLimits,
    quotas: HashMap<String, ScopeQuota>,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("RedisKv")
            .field("connections", &self.connections.len())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A refusal code from `set.lua`, as the error the in-memory store gives.
fn refusal(
    code: i64,
    would: usize,
    namespace: &str,
    limits: &KvLimits,
    quota: ScopeQuota,
) -> KvError {
    match code {
        1 => KvError::TooManyKeys {
            namespace: namespace.to_owned(),
            max: limits.max_keys_per_namespace,
        },
        2 => KvError::NamespaceFull {
            namespace: namespace.to_owned(),
            would,
            max: limits.max_bytes_per_namespace,
        },
        3 => KvError::TooManyNamespaces {
            max: limits.max_namespaces,
        },
        4 => KvError::StoreFull {
            would,
            max: limits.max_total_bytes,
        },
        5 => KvError::TenantFull {
            would,
            max: quota.max_bytes,
        },
        6 => KvError::TenantNamespaces {
            max: quota.max_namespaces,
        },
        other => KvError::Unavailable {
            reason: format!("the set script answered {other}"),
        },
    }
}

/// Hexadecimal: a stored name's part of a Redis key, free of the
/// separators and braces around it.
fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

impl RedisKv {
    /// Connects lazily: nothing is dialled until the first call, so goru
    /// starts (and serves runs without shared KV) while Redis is down.
    pub fn open(
        settings: &RedisSettings,
        limits: KvLimits,
        quotas: HashMap<String, ScopeQuota>,
    ) -> Result<Arc<Self>, OpenError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| OpenError::RedisUrl(e.to_string()))?;
        // Reconnect attempts are bounded by our own timeout on each call;
        // a failed one is retried by the next call, so Redis coming back is
        // noticed at once.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(settings.connect_timeout);
        let connections = (0..settings.pool_size)
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| OpenError::RedisUrl(e.to_string()))?;
        let store = Arc::new(Self {
            connections,
            next: AtomicUsize::new(0),
            scripts: Scripts::new(),
            limits,
            quotas,
            prefix: settings.key_prefix.clone(),
            timeout: settings.timeout,
        });
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(sweep(Arc::downgrade(&store)));
        }
        Ok(store)
    }

    fn connection(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        self.connections[i].clone()
    }

    /// Runs one Redis call under the timeout, counting failures.
    async fn call<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, KvError> {
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            // The client's own response timeout is the same bound as ours.
            Ok(Err(e)) if !e.is_timeout() => Err(KvError::Unavailable {
                reason: describe(&e),
            }),
            Ok(Err(_)) | Err(_) => Err(KvError::Timeout {
                ms: self.timeout.as_millis() as u64,
            }),
        };
        let up = match &outcome {
            Ok(_) => 1.0,
            Err(e) => {
                let kind = if matches!(e, KvError::Timeout { .. }) {
                    "timeout"
                } else {
                    "unavailable"
                };
                metrics::counter!("goru_kv_backend_errors_total", "backend" => "redis", "op" => op, "kind" => kind)
                    .increment(1);
                // /readyz pings on every probe; it reports the failure itself.
                if op != "ping" {
                    tracing::warn!(op, error = %e, "redis KV call failed");
                }
                0.0
            }
        };
        metrics::gauge!("goru_kv_backend_up", "backend" => "redis").set(up);
        outcome
    }

    fn value_key(&self, namespace: &str, key: &str) -> String {
        format!("{}:ns:{{{}}}:v:{key}", self.prefix, hex(namespace))
    }

    /// The counter key of the tenant `stored` belongs to, and its quota.
    fn scope(&self, stored: &str) -> (String, ScopeQuota) {
        match stored.split_once('/') {
            Some((scope, _)) => (
                format!("{}:scope:{{{}}}", self.prefix, hex(scope)),
                self.quotas.get(scope).copied().unwrap_or_default(),
            ),
            None => (String::new(), ScopeQuota::default()),
        }
    }

    /// One bounded round of the sweep, as the store's own task runs every
    /// few seconds; returns the namespaces visited.
    pub async fn sweep_now(&self) -> Result<usize, KvError> {
        let mut visited = 0;
        for _ in 0..SWEEP_BATCHES {
            let mut invocation = self.scripts.sweep.prepare_invoke();
            invocation
                .arg(&self.prefix)
                .arg(SWEEP_NAMESPACES)
                .arg(SWEEP_ENTRIES);
            let mut con = self.connection();
            let n: usize = self
                .call("sweep", invocation.invoke_async(&mut con))
                .await?;
            visited += n;
            if n < SWEEP_NAMESPACES {
                break;
            }
        }
        Ok(visited)
    }
}

/// What went wrong, without the address (it may carry a password).
fn describe(e: &RedisError) -> String {
    if e.is_connection_refusal() {
        "redis refused the connection".to_owned()
    } else if e.is_connection_dropped() || e.is_io_error() {
        "the connection to redis was lost".to_owned()
    } else {
        let mut text = format!("redis: {e}");
        text.truncate(200);
        text
    }
}

async fn sweep(store: Weak<RedisKv>) {
    loop {
        tokio::time::sleep(SWEEP_EVERY).await;
        let Some(store) = store.upgrade() else {
            return;
        };
        // Failures are counted by `call`; the next round tries again.
        let _ = store.sweep_now().await;
    }
}

#[async_trait::async_trait]
impl KvStore for RedisKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        check_stored_namespace(namespace)?;
        self.limits.check_key(key)?;
        let mut con = self.connection();
        let value_key = self.value_key(namespace, key);
        self.call(
            "get",
            redis::cmd("GET").arg(&value_key).query_async(&mut con),
        )
        .await
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        check_stored_namespace(namespace)?;
        self.limits.check_entry(key, &value)?;
        // Whole milliseconds, at least one: Redis expiry's resolution.
        let ttl_ms = ttl.map_or(0, |t| t.as_millis().max(1) as u64);
        let (scope_key, quota) = self.scope(namespace);
        let limits = &self.limits;
        let mut invocation = self.scripts.set.prepare_invoke();
        invocation
            .arg(&self.prefix)
            .arg(hex(namespace))
            .arg(&scope_key)
            .arg(key)
            .arg(value)
            .arg(ttl_ms)
            .arg(limits.max_keys_per_namespace)
            .arg(limits.max_bytes_per_namespace)
            .arg(limits.max_namespaces)
            .arg(limits.max_total_bytes)
            .arg(quota.max_bytes)
            .arg(quota.max_namespaces);
        let mut con = self.connection();
        let (code, would): (i64, usize) =
            self.call("set", invocation.invoke_async(&mut con)).await?;
        match code {
            0 => Ok(()),
            code => Err(refusal(code, would, namespace, limits, quota)),
        }
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        check_stored_namespace(namespace)?;
        self.limits.check_key(key)?;
        let mut invocation = self.scripts.delete.prepare_invoke();
        invocation.arg(&self.prefix).arg(hex(namespace)).arg(key);
        let mut con = self.connection();
        let removed: i64 = self
            .call("delete", invocation.invoke_async(&mut con))
            .await?;
        Ok(removed == 1)
    }

    async fn keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        check_stored_namespace(namespace)?;
        let mut invocation = self.scripts.keys.prepare_invoke();
        invocation.arg(&self.prefix).arg(hex(namespace)).arg(prefix);
        let mut con = self.connection();
        let mut keys: Vec<String> = self.call("keys", invocation.invoke_async(&mut con)).await?;
        keys.sort_unstable();
        Ok(keys)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), KvError> {
        let mut con = self.connection();
        let _: String = self
            .call("ping", redis::cmd("PING").query_async(&mut con))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_map_to_keys_that_cannot_collide() {
        // ':' and '/' may be in stored names: hex keeps them out of the key's
        // structure, so "a:v:b" + "c" and "a" + "b:v:c" stay apart.
        assert_eq!(hex("a:b/c"), "613a622f63");
        let store = RedisKv {
            connections: Vec::new(),
            next: AtomicUsize::new(0),
            scripts: Scripts::new(),
            limits: KvLimits::default(),
            quotas: HashMap::new(),
            prefix: "goru".into(),
            timeout: Duration::from_secs(1),
        };
        assert_ne!(store.value_key("a:v:b", "c"), store.value_key("a", "b:v:c"));
        assert_eq!(store.value_key("ns", "k"), "goru:ns:{6e73}:v:k");
        assert_eq!(store.scope("acme/jobs").0, "goru:scope:{61636d65}");
        assert_eq!(store.scope("jobs").0, "");
    }
}
