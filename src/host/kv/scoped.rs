//! A tenant's view of a store: its namespaces live under its own scope, so
//! the same name used by two tenants is two namespaces, and no name a tenant
//! can write reaches another's.
//!
//! The stored name is `scope/namespace`. `/` is in neither a tenant's name
//! nor a namespace's, so scoped names collide neither with each other nor
//! with the bare names of unscoped callers.

use std::sync::Arc;
use std::time::Duration;

use super::{KvError, KvStore, check_namespace};

#[derive(Debug, Clone)]
pub struct ScopedKv {
    inner: Arc<dyn KvStore>,
    scope: Arc<str>,
}

impl ScopedKv {
    pub fn new(inner: Arc<dyn KvStore>, scope: Arc<str>) -> Self {
        Self { inner, scope }
    }

    fn stored(&self, namespace: &str) -> Result<String, KvError> {
        check_namespace(namespace)?;
        Ok(format!("{}/{namespace}", self.scope))
    }

    /// Errors name the namespace as the tenant knows it.
    fn unscoped(&self, e: KvError) -> KvError {
        let strip = |namespace: String| {
            namespace
                .strip_prefix(&format!("{}/", self.scope))
                .map(str::to_owned)
                .unwrap_or(namespace)
        };
        match e {
            KvError::TooManyKeys { namespace, max } => KvError::TooManyKeys {
                namespace: strip(namespace),
                max,
            },
            KvError::NamespaceFull {
                namespace,
                would,
                max,
            } => KvError::NamespaceFull {
                namespace: strip(namespace),
                would,
                max,
            },
            KvError::InvalidNamespace(namespace) => KvError::InvalidNamespace(strip(namespace)),
            other => other,
        }
    }
}

#[async_trait::async_trait]
impl KvStore for ScopedKv {
    async fn get(&self, namespace: &str, key: &str) -> Result<Option<String>, KvError> {
        let stored = self.stored(namespace)?;
        self.inner
            .get(&stored, key)
            .await
            .map_err(|e| self.unscoped(e))
    }

    async fn set(
        &self,
        namespace: &str,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        let stored = self.stored(namespace)?;
        self.inner
            .set(&stored, key, value, ttl)
            .await
            .map_err(|e| self.unscoped(e))
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<bool, KvError> {
        let stored = self.stored(namespace)?;
        self.inner
            .delete(&stored, key)
            .await
            .map_err(|e| self.unscoped(e))
    }

    async fn keys(&self, namespace: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        let stored = self.stored(namespace)?;
        self.inner
            .keys(&stored, prefix)
            .await
            .map_err(|e| self.unscoped(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::kv::{KvLimits, MemoryKv};

    #[tokio::test]
    async fn two_scopes_never_see_each_others_namespaces() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryKv::new(KvLimits::default()));
        let a = ScopedKv::new(store.clone(), "a".into());
        let b = ScopedKv::new(store.clone(), "b".into());
        a.set("shared", "k", "from a".into(), None).await.unwrap();
        assert_eq!(b.get("shared", "k").await.unwrap(), None);
        assert_eq!(store.get("shared", "k").await.unwrap(), None);
        assert_eq!(
            a.get("shared", "k").await.unwrap().as_deref(),
            Some("from a")
        );
        // A name that tries to climb into another scope is not a name.
        assert!(matches!(
            a.get("../b/shared", "k").await,
            Err(KvError::InvalidNamespace(_))
        ));
        assert!(matches!(
            store.get("b/../a", "k").await,
            Err(KvError::InvalidNamespace(_))
        ));
    }
}
