//! The in-memory KV store: namespaces in a DashMap.
//!
//! Each operation holds the namespace's shard lock for its whole check and
//! update, so limits are enforced atomically and a key is never half written.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;

use super::{KvError, KvLimits, KvStore, check_stored_namespace};

#[derive(Debug)]
struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

#[derive(Debug, Default)]
struct Namespace {
    entries: HashMap<String, Entry>,
    /// Sum of key and value lengths of the entries.
    bytes: usize,
}

impl Namespace {
    fn purge_expired(&mut self, now: Instant) {
        let before = self.entries.len();
        if before == 0 {
            return;
        }
        let mut freed = 0;
        self.entries.retain(|k, e| {
            let keep = e.live(now);
            if !keep {
                freed += k.len() + e.value.len();
            }
            keep
        });
        self.bytes -= freed;
    }
}

#[derive(Debug, Default)]
pub struct MemoryKv {
    namespaces: DashMap<String, Namespace>,
    limits: KvLimits,
}

impl MemoryKv {
    pub fn new(limits: KvLimits) -> Self {
        Self {
            namespaces: DashMap::new(),
            limits,
        }
    }

    fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.is_empty() {
            return Err(KvError::EmptyKey);
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(KvError::KeyTooLong {
                len: key.len(),
                max: self.limits.max_key_bytes,
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        check_stored_namespace(namespace)?;
        self.check_key(key)?;
        let now = Instant::now();
        Ok(self.namespaces.get(namespace).and_then(|ns| {
            ns.entries
                .get(key)
                .filter(|e| e.live(now))
                .map(|e| e.value.clone())
        }))
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        check_stored_namespace(namespace)?;
        self.check_key(key)?;
        let limits = &self.limits;
        if value.len() > limits.max_value_bytes {
            return Err(KvError::ValueTooLarge {
                len: value.len(),
                max: limits.max_value_bytes,
            });
        }
        // Counting namespaces and inserting one are not one atomic step across
        // shards; the limit may be overshot by a few under a creation race,
        // never by more than the number of concurrent creators.
        let is_new = !self.namespaces.contains_key(namespace);
        if is_new && self.namespaces.len() >= limits.max_namespaces {
            return Err(KvError::TooManyNamespaces {
                max: limits.max_namespaces,
            });
        }
        let now = Instant::now();
        let mut ns = match self.namespaces.entry(namespace.to_owned()) {
            MapEntry::Occupied(o) => o.into_ref(),
            MapEntry::Vacant(v) => v.insert(Namespace::default()),
        };
        ns.purge_expired(now);
        let old = ns.entries.get(key).map(|e| key.len() + e.value.len());
        if old.is_none() && ns.entries.len() >= limits.max_keys_per_namespace {
            return Err(KvError::TooManyKeys {
                namespace: namespace.to_owned(),
                max: limits.max_keys_per_namespace,
            });
        }
        let would = ns.bytes - old.unwrap_or(0) + key.len() + value.len();
        if would > limits.max_bytes_per_namespace {
            return Err(KvError::NamespaceFull {
                namespace: namespace.to_owned(),
                would,
                max: limits.max_bytes_per_namespace,
            });
        }
        ns.bytes = would;
        let expires = ttl.map(|t| now + t);
        ns.entries.insert(key.to_owned(), Entry { value, expires });
        Ok(())
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        check_stored_namespace(namespace)?;
        self.check_key(key)?;
        let now = Instant::now();
        let Some(mut ns) = self.namespaces.get_mut(namespace) else {
            return Ok(false);
        };
        let removed = ns.entries.remove(key);
        let existed = removed.as_ref().is_some_and(|e| e.live(now));
        if let Some(e) = removed {
            ns.bytes -= key.len() + e.value.len();
        }
        Ok(existed)
    }

    async fn keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        check_stored_namespace(namespace)?;
        let now = Instant::now();
        let mut keys: Vec<String> = self
            .namespaces
            .get(namespace)
            .map(|ns| {
                ns.entries
                    .iter()
                    .filter(|(k, e)| k.starts_with(prefix) && e.live(now))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        keys.sort_unstable();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn small() -> MemoryKv {
        MemoryKv::new(KvLimits {
            max_key_bytes: 8,
            max_value_bytes: 16,
            max_keys_per_namespace: 3,
            max_bytes_per_namespace: 40,
            max_namespaces: 2,
        })
    }

    #[tokio::test]
    async fn set_get_delete_and_keys_round_trip() {
        let kv = small();
        kv.set("ns", "b", "2".into(), None).await.unwrap();
        kv.set("ns", "a", "1".into(), None).await.unwrap();
        assert_eq!(kv.get("ns", "a").await.unwrap().as_deref(), Some("1"));
        assert_eq!(kv.keys("ns", "").await.unwrap(), ["a", "b"]);
        assert!(kv.delete("ns", "a").await.unwrap());
        assert!(!kv.delete("ns", "a").await.unwrap());
        assert_eq!(kv.get("ns", "a").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_get_in_another_namespace_sees_nothing() {
        let kv = small();
        kv.set("one", "k", "v".into(), None).await.unwrap();
        assert_eq!(kv.get("two", "k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn every_limit_is_enforced_and_named() {
        let kv = small();
        assert!(matches!(
            kv.set("ns", "toolongkey", "v".into(), None).await,
            Err(KvError::KeyTooLong { max: 8, .. })
        ));
        assert!(matches!(
            kv.set("ns", "k", "x".repeat(17), None).await,
            Err(KvError::ValueTooLarge { max: 16, .. })
        ));
        for k in ["a", "b", "c"] {
            kv.set("ns", k, "v".into(), None).await.unwrap();
        }
        assert!(matches!(
            kv.set("ns", "d", "v".into(), None).await,
            Err(KvError::TooManyKeys { max: 3, .. })
        ));
        kv.set("ns", "a", "x".repeat(16), None).await.unwrap();
        kv.set("ns", "b", "x".repeat(16), None).await.unwrap();
        assert!(matches!(
            kv.set("ns", "c", "x".repeat(16), None).await,
            Err(KvError::NamespaceFull { max: 40, .. })
        ));
        kv.set("other", "k", "v".into(), None).await.unwrap();
        assert!(matches!(
            kv.set("third", "k", "v".into(), None).await,
            Err(KvError::TooManyNamespaces { max: 2 })
        ));
        assert!(matches!(
            kv.set("bad ns", "k", "v".into(), None).await,
            Err(KvError::InvalidNamespace(_))
        ));
    }

    #[tokio::test]
    async fn an_expired_key_is_gone_and_frees_its_room() {
        let kv = small();
        kv.set("ns", "k", "v".into(), Some(Duration::from_millis(20)))
            .await
            .unwrap();
        assert_eq!(kv.get("ns", "k").await.unwrap().as_deref(), Some("v"));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(kv.get("ns", "k").await.unwrap(), None);
        assert!(kv.keys("ns", "").await.unwrap().is_empty());
        for k in ["a", "b", "c"] {
            kv.set("ns", k, "v".into(), None).await.unwrap();
        }
    }

    #[tokio::test]
    async fn concurrent_writers_to_one_key_never_corrupt_it() {
        let kv = Arc::new(MemoryKv::new(KvLimits::default()));
        let writers = (0..16u8).map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    let letter = char::from(b'a' + i);
                    kv.set("ns", "k", letter.to_string().repeat(1000), None)
                        .await
                        .unwrap();
                }
            })
        });
        futures::future::join_all(writers).await;
        let v = kv.get("ns", "k").await.unwrap().unwrap();
        assert_eq!(v.len(), 1000);
        assert!(
            v.chars().all(|c| c == v.chars().next().unwrap()),
            "one writer's value, whole"
        );
        assert_eq!(kv.namespaces.get("ns").unwrap().bytes, 1 + v.len());
    }
}
