//! Tenants: who is calling, and what they may do.
//!
//! Every request to the service is made by a [`Tenant`]: one named in
//! `[tenants.<name>]` and identified by an API key, or, on a server without
//! keys, the anonymous caller. A tenant's runs get its ceilings, may only
//! grant what it may grant, use KV namespaces of their own, and are counted
//! against its rate limits. The run pipeline applies all of it
//! ([`crate::runner::RunSpec::tenant`]); the API only says who is calling.

mod config;
mod grantable;
pub mod keys;
mod quota;
mod registry;

use std::sync::Arc;

pub use config::{AuthMode, MetricsAccess, TenantConfig};
pub use grantable::{Denied, Grantable, NamePattern};
pub use quota::{Quota, QuotaError, RunPermit};
pub use registry::{AuthError, TenantConfigError, Tenants};

use crate::host::Grants;
use crate::sandbox::LimitPolicy;

/// The name of the caller of a server without keys.
pub const ANONYMOUS: &str = "anonymous";
/// The name of the operator's own process (`goru mcp` on stdio).
pub const LOCAL: &str = "local";

#[derive(Debug)]
pub struct Tenant {
    name: Arc<str>,
    /// Prefix of its KV namespaces; `None` = bare names (no tenants).
    kv_scope: Option<Arc<str>>,
    limits: LimitPolicy,
    /// `None` = whatever the server offers.
    grantable: Option<Grantable>,
    quota: Quota,
    max_live_sessions: Option<usize>,
    read_metrics: bool,
}

impl Tenant {
    /// A caller that may ask for anything the server offers, with bare KV
    /// names: the anonymous caller of a server without keys, or the operator.
    pub fn unrestricted(name: &str, limits: LimitPolicy) -> Self {
        Self {
            name: name.into(),
            kv_scope: None,
            limits,
            grantable: None,
            quota: Quota::unlimited(),
            max_live_sessions: None,
            read_metrics: true,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn name_arc(&self) -> Arc<str> {
        self.name.clone()
    }

    /// Its defaults and ceilings (the server's, lowered by its own).
    pub fn limits(&self) -> &LimitPolicy {
        &self.limits
    }

    pub fn max_live_sessions(&self) -> Option<usize> {
        self.max_live_sessions
    }

    pub fn may_read_metrics(&self) -> bool {
        self.read_metrics
    }

    /// Refuses grants beyond the tenant's; scopes its KV namespace.
    pub fn apply(&self, grants: &mut Grants) -> Result<(), Denied> {
        if let Some(grantable) = &self.grantable {
            grantable.check(&self.name, grants)?;
        }
        grants.kv_scope = self.kv_scope.clone();
        Ok(())
    }

    /// The KV store as this tenant sees it (for `/kv`), after checking it
    /// may use `namespace`.
    pub fn kv_store(
        &self,
        store: &Arc<dyn crate::host::kv::KvStore>,
        namespace: &str,
    ) -> Result<Arc<dyn crate::host::kv::KvStore>, Denied> {
        if let Some(grantable) = &self.grantable {
            grantable
                .check_namespace(&self.name, namespace)
                .map_err(|message| Denied {
                    field: "namespace".to_owned(),
                    message: format!("namespace {message}"),
                })?;
        }
        Ok(match &self.kv_scope {
            Some(scope) => Arc::new(crate::host::kv::ScopedKv::new(store.clone(), scope.clone())),
            None => store.clone(),
        })
    }

    /// One run's place in the tenant's rate and concurrency limits.
    pub fn admit(&self) -> Result<RunPermit, QuotaError> {
        self.quota.admit(&self.name)
    }
}
