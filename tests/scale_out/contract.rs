//! One contract, two stores: every KV behaviour and limit, checked on the
//! in-memory store and on Redis alike, with the same errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use goru::host::kv::{KvError, KvLimits, KvStore, MemoryKv, RedisKv, RedisSettings, ScopeQuota};

use super::redis_server::RedisServer;

pub enum Store {
    Memory(Arc<MemoryKv>),
    Redis(Arc<RedisKv>),
}

impl Store {
    pub fn kv(&self) -> &dyn KvStore {
        match self {
            Store::Memory(m) => m.as_ref(),
            Store::Redis(r) => r.as_ref(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.kv().backend()
    }

    async fn sweep(&self) {
        match self {
            Store::Memory(m) => m.sweep(),
            Store::Redis(r) => {
                r.sweep_now().await.unwrap();
            }
        }
    }
}

pub fn redis_settings(redis: &RedisServer, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: redis.url(),
        pool_size: 2,
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        key_prefix: prefix.to_owned(),
    }
}

/// The two stores, empty, with `limits` and `quotas`; the Redis one in a
/// server of its own (returned, to keep it alive).
pub fn both(limits: KvLimits, quotas: HashMap<String, ScopeQuota>) -> (RedisServer, [Store; 2]) {
    let redis = RedisServer::start();
    let memory = Store::Memory(Arc::new(MemoryKv::with_quotas(limits, quotas.clone())));
    let on_redis =
        Store::Redis(RedisKv::open(&redis_settings(&redis, "goru"), limits, quotas).unwrap());
    (redis, [memory, on_redis])
}

fn small() -> KvLimits {
    KvLimits {
        max_key_bytes: 8,
        max_value_bytes: 16,
        max_keys_per_namespace: 3,
        max_bytes_per_namespace: 40,
        max_namespaces: 2,
        max_total_bytes: 1000,
    }
}

#[tokio::test]
async fn set_get_delete_and_keys_round_trip() {
    let (_redis, stores) = both(small(), HashMap::new());
    for store in &stores {
        let kv = store.kv();
        kv.set("ns", "b", "2".into(), None).await.unwrap();
        kv.set("ns", "a", "1".into(), None).await.unwrap();
        kv.set("ns", "ab", "é\u{0}".into(), None).await.unwrap();
        assert_eq!(kv.get("ns", "a").await.unwrap().as_deref(), Some("1"));
        assert_eq!(kv.get("ns", "ab").await.unwrap().as_deref(), Some("é\u{0}"));
        assert_eq!(
            kv.keys("ns", "").await.unwrap(),
            ["a", "ab", "b"],
            "{}",
            store.name()
        );
        assert_eq!(kv.keys("ns", "a").await.unwrap(), ["a", "ab"]);
        kv.set("ns", "a", "one".into(), None).await.unwrap();
        assert_eq!(kv.get("ns", "a").await.unwrap().as_deref(), Some("one"));
        assert!(kv.delete("ns", "a").await.unwrap());
        assert!(!kv.delete("ns", "a").await.unwrap());
        assert_eq!(kv.get("ns", "a").await.unwrap(), None);
        assert_eq!(kv.get("never", "a").await.unwrap(), None);
        assert!(kv.keys("never", "").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn names_that_look_alike_stay_apart() {
    let (_redis, stores) = both(KvLimits::default(), HashMap::new());
    for store in &stores {
        let kv = store.kv();
        // Were names joined with ':' unescaped, these two would be one key.
        kv.set("a:v:b", "c", "first".into(), None).await.unwrap();
        kv.set("a", "b:v:c", "second".into(), None).await.unwrap();
        assert_eq!(
            kv.get("a:v:b", "c").await.unwrap().as_deref(),
            Some("first")
        );
        assert_eq!(
            kv.get("a", "b:v:c").await.unwrap().as_deref(),
            Some("second")
        );
        assert_eq!(kv.get("a", "c").await.unwrap(), None);
        // A tenant's `t/ns` and a bare `ns` are different namespaces.
        kv.set("t/ns", "k", "tenant".into(), None).await.unwrap();
        assert_eq!(kv.get("ns", "k").await.unwrap(), None, "{}", store.name());
    }
}

#[tokio::test]
async fn every_limit_is_enforced_and_named_alike() {
    let (_redis, stores) = both(small(), HashMap::new());
    let mut seen = Vec::new();
    for store in &stores {
        let kv = store.kv();
        let mut errors = Vec::new();
        errors.push(kv.set("ns", "toolongkey", "v".into(), None).await);
        errors.push(kv.set("ns", "", "v".into(), None).await);
        errors.push(kv.set("ns", "k", "x".repeat(17), None).await);
        for k in ["a", "b", "c"] {
            kv.set("ns", k, "v".into(), None).await.unwrap();
        }
        errors.push(kv.set("ns", "d", "v".into(), None).await);
        kv.set("ns", "a", "x".repeat(16), None).await.unwrap();
        kv.set("ns", "b", "x".repeat(16), None).await.unwrap();
        errors.push(kv.set("ns", "c", "x".repeat(16), None).await);
        kv.set("other", "k", "v".into(), None).await.unwrap();
        errors.push(kv.set("third", "k", "v".into(), None).await);
        errors.push(kv.set("bad ns", "k", "v".into(), None).await);
        errors.push(kv.get("ns", "toolongkey").await.map(|_| ()));
        // Refused writes changed nothing.
        assert_eq!(kv.keys("ns", "").await.unwrap(), ["a", "b", "c"]);
        assert_eq!(kv.get("ns", "c").await.unwrap().as_deref(), Some("v"));
        seen.push(errors);
    }
    let expected = [
        Err(KvError::KeyTooLong { len: 10, max: 8 }),
        Err(KvError::EmptyKey),
        Err(KvError::ValueTooLarge { len: 17, max: 16 }),
        Err(KvError::TooManyKeys {
            namespace: "ns".into(),
            max: 3,
        }),
        Err(KvError::NamespaceFull {
            namespace: "ns".into(),
            would: 51,
            max: 40,
        }),
        Err(KvError::TooManyNamespaces { max: 2 }),
        Err(KvError::InvalidNamespace("bad ns".into())),
        Err(KvError::KeyTooLong { len: 10, max: 8 }),
    ];
    assert_eq!(seen[0], expected, "memory");
    assert_eq!(seen[1], expected, "redis");
}

#[tokio::test]
async fn an_expired_key_is_gone_and_frees_its_room() {
    let (_redis, stores) = both(small(), HashMap::new());
    for store in &stores {
        let kv = store.kv();
        kv.set("ns", "k", "v".into(), Some(Duration::from_millis(150)))
            .await
            .unwrap();
        kv.set("ns", "kept", "v".into(), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(kv.get("ns", "k").await.unwrap().as_deref(), Some("v"));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(kv.get("ns", "k").await.unwrap(), None, "{}", store.name());
        assert_eq!(kv.keys("ns", "").await.unwrap(), ["kept"]);
        assert!(
            !kv.delete("ns", "k").await.unwrap(),
            "an expired key was not there"
        );
        // Writing without a TTL makes a key permanent again.
        kv.set("ns", "kept", "w".into(), None).await.unwrap();
        for k in ["a", "b"] {
            kv.set("ns", k, "v".into(), None).await.unwrap();
        }
    }
}

#[tokio::test]
async fn room_held_by_expired_entries_is_given_to_a_write() {
    let (_redis, stores) = both(small(), HashMap::new());
    for store in &stores {
        let kv = store.kv();
        for k in ["a", "b", "c"] {
            kv.set("ns", k, "v".into(), Some(Duration::from_millis(50)))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
        kv.set("ns", "d", "x".repeat(16), None).await.unwrap();
        kv.set("ns", "e", "x".repeat(16), None).await.unwrap();
        assert_eq!(
            kv.set("ns", "f", "x".repeat(16), None).await,
            Err(KvError::NamespaceFull {
                namespace: "ns".into(),
                would: 51,
                max: 40
            }),
            "{}: only the live entries count",
            store.name()
        );
    }
}

#[tokio::test]
async fn a_namespace_left_empty_or_expired_is_reclaimed() {
    let (_redis, stores) = both(small(), HashMap::new());
    for store in &stores {
        let kv = store.kv();
        kv.set("one", "k", "v".into(), None).await.unwrap();
        kv.set("two", "k", "v".into(), Some(Duration::from_millis(50)))
            .await
            .unwrap();
        assert_eq!(
            kv.set("three", "k", "v".into(), None).await,
            Err(KvError::TooManyNamespaces { max: 2 })
        );
        assert!(kv.delete("one", "k").await.unwrap());
        kv.set("three", "k", "v".into(), None).await.unwrap();
        // "two" expires with nobody writing to it: the sweep frees its place.
        tokio::time::sleep(Duration::from_millis(120)).await;
        store.sweep().await;
        kv.set("four", "k", "v".into(), None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", store.name()));
    }
}

#[tokio::test]
async fn the_store_wide_byte_cap_holds_across_namespaces() {
    let limits = KvLimits {
        max_total_bytes: 100,
        ..KvLimits::default()
    };
    let (_redis, stores) = both(limits, HashMap::new());
    for store in &stores {
        let kv = store.kv();
        kv.set("a", "k", "x".repeat(60), None).await.unwrap();
        assert_eq!(
            kv.set("b", "k", "x".repeat(60), None).await,
            Err(KvError::StoreFull {
                would: 122,
                max: 100
            })
        );
        // Shrinking a value frees room.
        kv.set("a", "k", "x".into(), None).await.unwrap();
        kv.set("b", "k", "x".repeat(60), None).await.unwrap();
    }
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
    let (_redis, stores) = both(KvLimits::default(), quotas);
    for store in &stores {
        let kv = store.kv();
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
        kv.delete("small/a", "k").await.unwrap();
        kv.set("small/b", "k", "x".repeat(48), None).await.unwrap();
    }
}

/// Sixteen writers on two Redis stores (two replicas' worth) against one
/// store-wide cap, and one namespace's key limit: exact, never passed.
#[tokio::test]
async fn concurrent_writers_on_two_replicas_never_pass_a_limit() {
    let redis = RedisServer::start();
    let limits = KvLimits {
        max_total_bytes: 10_000,
        max_keys_per_namespace: 37,
        ..KvLimits::default()
    };
    let replicas: Vec<Arc<RedisKv>> = (0..2)
        .map(|_| RedisKv::open(&redis_settings(&redis, "goru"), limits, HashMap::new()).unwrap())
        .collect();
    let writers = (0..16).map(|i| {
        let kv = replicas[i % 2].clone();
        tokio::spawn(async move {
            let mut stored = 0;
            for k in 0..100 {
                let (ns, key) = (format!("ns{i}"), format!("k{k}"));
                if kv.set(&ns, &key, "x".repeat(98), None).await.is_ok() {
                    stored += 1;
                }
                let _ = kv.set("one", &format!("w{i}-{k}"), "v".into(), None).await;
            }
            stored
        })
    });
    let stored: usize = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let keys_in_one = replicas[0].keys("one", "").await.unwrap().len();
    assert_eq!(keys_in_one, 37, "the key limit, exactly");
    let mut con = redis.connection();
    let total: usize = redis::cmd("HGET")
        .arg("goru:total")
        .arg("bytes")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        total,
        stored_bytes(&mut con),
        "the counter is what is stored"
    );
    // 1,600 writes of about 101 bytes were refused only once the cap was
    // nearly reached, and never past it.
    assert!((9_899..=10_000).contains(&total), "{total}");
    assert!(stored > 80, "{stored}");
}

/// Bytes of every entry goru holds in Redis, counted from the index hashes.
fn stored_bytes(con: &mut redis::Connection) -> usize {
    let indexes: Vec<String> = redis::cmd("KEYS").arg("goru:ns:*:i").query(con).unwrap();
    indexes
        .iter()
        .map(|index| {
            let sizes: Vec<usize> = redis::cmd("HVALS").arg(index).query(con).unwrap();
            sizes.iter().sum::<usize>()
        })
        .sum()
}
