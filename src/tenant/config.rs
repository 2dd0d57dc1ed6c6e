//! `auth` and `[tenants.<name>]`: who may call the service, and what each
//! caller may ask for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::LimitValues;
use crate::host::fs::Mode;

/// Whether requests must carry an API key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Keys are required when tenants are configured; without tenants the
    /// server answers anyone, so it only listens on loopback.
    #[default]
    Auto,
    /// Keys are always required (start-up fails without a tenant).
    Keys,
    /// No keys, on any address: the operator's explicit choice (a trusted
    /// network, or a proxy in front that authenticates).
    None,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Anyone who reaches the port.
    #[default]
    Open,
    /// A key of a tenant with `read_metrics = true`.
    Keys,
}

/// One tenant: its keys, ceilings, what it may grant, and its rate limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantConfig {
    /// SHA-256 of each key, in hex (`goru key` makes a key and its hash).
    pub key_sha256: Vec<String>,
    /// Environment variables each holding a key; read and hashed at start-up.
    pub key_env: Vec<String>,
    /// The most this tenant's runs may ask for; 0 = the server's ceiling.
    pub ceiling: LimitValues,
    /// Host patterns its policies may list in `allowed_hosts` (each listed
    /// pattern must be covered by one of these).
    pub allowed_hosts: Vec<String>,
    /// Custom functions its policies may grant.
    pub functions: Vec<String>,
    /// Mount points its policies may ask for, with the strongest mode.
    pub mounts: BTreeMap<String, Mode>,
    /// Namespace names (or `prefix*` patterns) it may use through
    /// `kv_namespace` and `/kv`. Each tenant has namespaces of its own:
    /// the same name used by two tenants is two namespaces.
    pub kv_namespaces: Vec<String>,
    /// Runs (and session cells) per second, sustained; 0 = unlimited.
    pub runs_per_second: f64,
    /// Runs allowed at once above the sustained rate; 0 = one second's worth.
    pub burst: u32,
    /// Runs in flight at once; 0 = unlimited.
    pub max_concurrent_runs: usize,
    /// Live sessions at once; 0 = only the server's `sessions.max_live`.
    pub max_live_sessions: usize,
    /// Whether its keys may read `/metrics` when `server.metrics_access = "keys"`.
    pub read_metrics: bool,
    /// Bytes (keys and values) its KV namespaces may hold together; 0 =
    /// only the store's `kv.max_total_bytes`.
    pub kv_max_bytes: usize,
    /// KV namespaces it may hold at once; 0 = only the store's `kv.max_namespaces`.
    pub kv_max_namespaces: usize,
}

impl Default for TenantConfig {
    fn default() -> Self {
        Self {
            key_sha256: Vec::new(),
            key_env: Vec::new(),
            ceiling: LimitValues::default(),
            allowed_hosts: Vec::new(),
            functions: Vec::new(),
            mounts: BTreeMap::new(),
            kv_namespaces: vec!["*".to_owned()],
            runs_per_second: 0.0,
            burst: 0,
            max_concurrent_runs: 0,
            max_live_sessions: 0,
            read_metrics: false,
            kv_max_bytes: 0,
            kv_max_namespaces: 0,
        }
    }
}
