//! The in-memory KV store: namespaces in a DashMap.
//!
//! Each operation holds the namespace's shard lock for its whole check and
//! update, so limits are enforced atomically and a key is never half written.
//! Bytes are also counted across namespaces, for the whole store
//! (`kv.max_total_bytes`) and per tenant (`kv_max_bytes`), by atomic
//! reservations made under that same lock.
//!
//! Nothing holds a shard lock for work that grows with a namespace's size:
//! expired entries are found through an expiry index and removed a bounded
//! batch at a time (each entry once, paid for by the write that made it), and
//! a namespace left empty is removed from the map at once. `sweep` reclaims
//! what expires in namespaces nobody touches again.

mod namespace;
mod usage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;

use self::namespace::{Entry, Freed, Namespace};
use self::usage::{Over, Usage};
use super::{KvError, KvLimits, KvStore, ScopeQuota, check_stored_namespace};

/// Expired entries a write removes before its own check.
const PURGE_PER_WRITE: usize = 64;
/// Expired entries a sweep removes from one namespace per lock.
const PURGE_PER_SWEEP: usize = 1024;

#[derive(Debug)]
pub struct MemoryKv {
    namespaces: DashMap<String, Namespace>,
    limits: KvLimits,
    /// The whole store: `max_total_bytes`, `max_namespaces`.
    total: Usage,
    /// Scopes (tenants) with quotas of their own; fixed at start-up.
    scopes: HashMap<String, Arc<Usage>>,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::new(KvLimits::default())
    }
}

impl MemoryKv {
    pub fn new(limits: KvLimits) -> Self {
        Self::with_quotas(limits, HashMap::new())
    }

    /// A store whose scopes (a tenant's stored names, `scope/namespace`)
    /// may have quotas of their own under the store's limits.
    pub fn with_quotas(limits: KvLimits, quotas: HashMap<String, ScopeQuota>) -> Self {
        let scopes = quotas
            .into_iter()
            .filter(|(_, q)| q.max_bytes > 0 || q.max_namespaces > 0)
            .map(|(scope, q)| (scope, Arc::new(Usage::new(q.max_bytes, q.max_namespaces))))
            .collect();
        Self {
            namespaces: DashMap::new(),
            total: Usage::new(limits.max_total_bytes, limits.max_namespaces),
            limits,
            scopes,
        }
    }

    /// Bytes held across every namespace.
    pub fn total_bytes(&self) -> usize {
        self.total.bytes()
    }

    /// Namespaces held.
    pub fn namespace_count(&self) -> usize {
        self.total.namespaces()
    }

    /// The quota of the scope `stored` belongs to, if it has one.
    fn scope(&self, stored: &str) -> Option<&Usage> {
        let (scope, _) = stored.split_once('/')?;
        self.scopes.get(scope).map(Arc::as_ref)
    }

    fn release(&self, scope: Option<&Usage>, freed: Freed) {
        if freed.bytes > 0 {
            self.total.release_bytes(freed.bytes);
            if let Some(scope) = scope {
                scope.release_bytes(freed.bytes);
            }
        }
    }

    /// Counts a new namespace against the store's and the scope's limits.
    fn reserve_namespace(&self, scope: Option<&Usage>) -> Result<(), KvError> {
        self.total
            .reserve_namespace()
            .map_err(|over| KvError::TooManyNamespaces { max: over.max })?;
        if let Some(scope) = scope
            && let Err(over) = scope.reserve_namespace()
        {
            self.total.release_namespace();
            return Err(KvError::TenantNamespaces { max: over.max });
        }
        Ok(())
    }

    /// Counts `more` bytes against the scope's and the store's limits.
    fn reserve_bytes(&self, scope: Option<&Usage>, more: usize) -> Result<(), KvError> {
        if let Some(scope) = scope {
            scope
                .reserve_bytes(more)
                .map_err(|Over { would, max }| KvError::TenantFull { would, max })?;
        }
        if let Err(Over { would, max }) = self.total.reserve_bytes(more) {
            if let Some(scope) = scope {
                scope.release_bytes(more);
            }
            return Err(KvError::StoreFull { would, max });
        }
        Ok(())
    }

    /// Removes `namespace` if it is empty, and uncounts it.
    fn reclaim(&self, namespace: &str) {
        if self
            .namespaces
            .remove_if(namespace, |_, ns| ns.is_empty())
            .is_some()
        {
            self.total.release_namespace();
            if let Some(scope) = self.scope(namespace) {
                scope.release_namespace();
            }
        }
    }

    /// Checks and writes `key` in the locked `ns`.
    fn write(
        &self,
        ns: &mut Namespace,
        namespace: &str,
        key: &str,
        value: String,
        expires: Option<Instant>,
        now: Instant,
    ) -> Result<(), KvError> {
        let scope = self.scope(namespace);
        let limits = &self.limits;
        let freed = ns.purge_expired(now, PURGE_PER_WRITE);
        self.release(scope, freed);
        let over = |ns: &Namespace| {
            (ns.get(key).is_none() && ns.len() >= limits.max_keys_per_namespace)
                || ns.bytes_after(key, value.len()) > limits.max_bytes_per_namespace
        };
        if over(ns) && ns.has_expired(now) {
            // Room held by expired entries is room: free all of it first.
            let freed = ns.purge_expired(now, usize::MAX);
            self.release(scope, freed);
        }
        if ns.get(key).is_none() && ns.len() >= limits.max_keys_per_namespace {
            return Err(KvError::TooManyKeys {
                namespace: namespace.to_owned(),
                max: limits.max_keys_per_namespace,
            });
        }
        let would = ns.bytes_after(key, value.len());
        if would > limits.max_bytes_per_namespace {
            return Err(KvError::NamespaceFull {
                namespace: namespace.to_owned(),
                would,
                max: limits.max_bytes_per_namespace,
            });
        }
        match would.checked_sub(ns.bytes()) {
            Some(more) if more > 0 => {
                if let Err(e) = self.reserve_bytes(scope, more) {
                    if !ns.has_expired(now) {
                        return Err(e);
                    }
                    // The store's or the tenant's room may be held by this
                    // namespace's expired entries: free them and ask again.
                    let freed = ns.purge_expired(now, usize::MAX);
                    self.release(scope, freed);
                    let would = ns.bytes_after(key, value.len());
                    self.reserve_bytes(scope, would.saturating_sub(ns.bytes()))?;
                }
            }
            Some(_) => {}
            None => self.release(
                scope,
                Freed {
                    entries: 0,
                    bytes: ns.bytes() - would,
                },
            ),
        }
        ns.insert(key, Entry { value, expires });
        Ok(())
    }
}

#[async_trait::async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        check_stored_namespace(namespace)?;
        self.limits.check_key(key)?;
        let now = Instant::now();
        Ok(self
            .namespaces
            .get(namespace)
            .and_then(|ns| ns.get(key).filter(|e| e.live(now)).map(|e| e.value.clone())))
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
        let now = Instant::now();
        let expires = ttl.map(|t| now + t);
        let written = {
            let mut ns = match self.namespaces.entry(namespace.to_owned()) {
                MapEntry::Occupied(o) => o.into_ref(),
                MapEntry::Vacant(v) => {
                    // Counted under the shard lock: no race can overshoot.
                    self.reserve_namespace(self.scope(namespace))?;
                    v.insert(Namespace::default())
                }
            };
            let written = self.write(&mut ns, namespace, key, value, expires, now);
            (written, ns.is_empty())
        };
        if written.1 {
            self.reclaim(namespace);
        }
        written.0
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        check_stored_namespace(namespace)?;
        self.limits.check_key(key)?;
        let now = Instant::now();
        let (existed, empty) = {
            let Some(mut ns) = self.namespaces.get_mut(namespace) else {
                return Ok(false);
            };
            let removed = ns.remove(key);
            let existed = removed.as_ref().is_some_and(|e| e.live(now));
            if let Some(e) = removed {
                let bytes = key.len() + e.value.len();
                self.release(self.scope(namespace), Freed { entries: 1, bytes });
            }
            (existed, ns.is_empty())
        };
        if empty {
            self.reclaim(namespace);
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
                ns.iter()
                    .filter(|(k, e)| k.starts_with(prefix) && e.live(now))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        keys.sort_unstable();
        Ok(keys)
    }

    fn sweep(&self) {
        let now = Instant::now();
        // One cheap look per namespace under each shard's read lock.
        let due: Vec<String> = self
            .namespaces
            .iter()
            .filter(|ns| ns.has_expired(now) || ns.is_empty())
            .map(|ns| ns.key().clone())
            .collect();
        for namespace in due {
            // A bounded batch per lock, until nothing expired is left.
            let empty = loop {
                let Some(mut ns) = self.namespaces.get_mut(&namespace) else {
                    break false;
                };
                let freed = ns.purge_expired(now, PURGE_PER_SWEEP);
                self.release(self.scope(&namespace), freed);
                if freed.entries < PURGE_PER_SWEEP {
                    break ns.is_empty();
                }
            };
            if empty {
                self.reclaim(&namespace);
            }
        }
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
            max_total_bytes: 1000,
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
        assert_eq!(kv.namespaces.get("ns").unwrap().bytes(), 1 + v.len());
        assert_eq!(kv.total_bytes(), 1 + v.len());
    }

    #[tokio::test]
    async fn a_namespace_left_empty_is_reclaimed_at_once() {
        let kv = small();
        kv.set("one", "k", "v".into(), None).await.unwrap();
        kv.set("two", "k", "v".into(), None).await.unwrap();
        assert!(kv.delete("one", "k").await.unwrap());
        assert_eq!((kv.namespace_count(), kv.total_bytes()), (1, 2));
        // Its place is free for another namespace.
        kv.set("three", "k", "v".into(), None).await.unwrap();
        assert!(kv.namespaces.get("one").is_none());
    }

    #[tokio::test]
    async fn a_sweep_reclaims_expired_entries_and_their_namespaces() {
        let kv = small();
        let ttl = Some(Duration::from_millis(10));
        kv.set("one", "a", "v".into(), ttl).await.unwrap();
        kv.set("one", "b", "v".into(), ttl).await.unwrap();
        kv.set("two", "k", "v".into(), None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        kv.sweep();
        assert_eq!((kv.namespace_count(), kv.total_bytes()), (1, 2));
        kv.set("three", "k", "v".into(), None).await.unwrap();
    }

    #[tokio::test]
    async fn room_held_by_expired_entries_is_given_to_a_write() {
        let kv = small();
        for k in ["a", "b", "c"] {
            kv.set("ns", k, "v".into(), Some(Duration::from_millis(10)))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        kv.set("ns", "d", "x".repeat(16), None).await.unwrap();
        assert_eq!(kv.total_bytes(), 17);
    }

    #[tokio::test]
    async fn the_store_wide_byte_cap_holds_across_namespaces() {
        let kv = MemoryKv::new(KvLimits {
            max_total_bytes: 100,
            ..KvLimits::default()
        });
        kv.set("a", "k", "x".repeat(60), None).await.unwrap();
        let refused = kv.set("b", "k", "x".repeat(60), None).await;
        assert_eq!(
            refused,
            Err(KvError::StoreFull {
                would: 122,
                max: 100
            })
        );
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("kv.max_total_bytes")
        );
        // The refused write left no empty namespace behind.
        assert_eq!(kv.namespace_count(), 1);
        // Shrinking a value frees room.
        kv.set("a", "k", "x".into(), None).await.unwrap();
        kv.set("b", "k", "x".repeat(60), None).await.unwrap();
    }

    #[tokio::test]
    async fn a_tenant_quota_binds_its_scope_only() {
        let quotas = HashMap::from([(
            "small".to_owned(),
            ScopeQuota {
                max_bytes: 50,
                max_namespaces: 1,
            },
        )]);
        let kv = MemoryKv::with_quotas(KvLimits::default(), quotas);
        kv.set("small/a", "k", "x".repeat(40), None).await.unwrap();
        assert_eq!(
            kv.set("small/a", "j", "x".repeat(40), None).await,
            Err(KvError::TenantFull { would: 82, max: 50 })
        );
        assert_eq!(
            kv.set("small/b", "k", "x".into(), None).await,
            Err(KvError::TenantNamespaces { max: 1 })
        );
        kv.set("big/a", "k", "x".repeat(400), None).await.unwrap();
        kv.set("big/b", "k", "x".repeat(400), None).await.unwrap();
        // Deleting frees the tenant's room and its namespace.
        kv.delete("small/a", "k").await.unwrap();
        kv.set("small/b", "k", "x".repeat(48), None).await.unwrap();
    }

    #[tokio::test]
    async fn concurrent_writers_never_pass_the_store_cap_together() {
        let kv = Arc::new(MemoryKv::new(KvLimits {
            max_total_bytes: 10_000,
            ..KvLimits::default()
        }));
        let writers = (0..16).map(|i| {
            let kv = kv.clone();
            tokio::spawn(async move {
                let mut stored = 0;
                for k in 0..100 {
                    let (ns, key) = (format!("ns{i}"), format!("k{k}"));
                    if kv.set(&ns, &key, "x".repeat(98), None).await.is_ok() {
                        stored += 1;
                    }
                }
                stored
            })
        });
        let stored: usize = futures::future::join_all(writers)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum();
        // Each entry is "kN" or "kNN" plus 98 bytes: the cap fits 97 to 100.
        assert!((97..=100).contains(&stored), "{stored}");
        let held: usize = kv.namespaces.iter().map(|ns| ns.bytes()).sum();
        assert_eq!(kv.total_bytes(), held);
        assert!(held <= 10_000);
    }
}
