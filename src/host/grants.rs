//! Builds one run's host functions from its policy: the only place grants
//! are made. Everything here is built for that run alone and dropped with it,
//! so a grant can never outlive its run or leak to a concurrent one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::fs::{self, FsLimits, Mount, MountConfig, MountRequest};
use super::http::{self, HostPattern, HttpConfig};
use super::kv::{self, KvLimits, KvStore, MemoryKv, ScopedKv};
use super::{HostCalls, Registry};

/// What a run asks for. Empty means: private KV only.
#[derive(Debug, Default)]
pub struct Grants {
    /// Registered functions by name.
    pub functions: Vec<String>,
    pub allowed_hosts: Vec<String>,
    /// A shared namespace; `None` gives the run a private one.
    pub kv_namespace: Option<String>,
    /// The tenant whose namespaces `kv_namespace` names (`None`: the bare
    /// names of an unauthenticated server or the CLI).
    pub kv_scope: Option<Arc<str>>,
    /// Configured mount points by name (the service).
    pub mounts: Vec<MountRequest>,
    /// Mounts already opened (the CLI's `--mount`).
    pub opened_mounts: Vec<Mount>,
    /// Functions made for this run alone by library code (`HostCalls::add`).
    pub extra: HostCalls,
}

/// What a run was granted, for its audit line: each field a short list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantsUsed {
    pub functions: String,
    pub allowed_hosts: String,
    /// The shared namespace, or `(private)`.
    pub kv_namespace: String,
    /// `name:guest_path:mode`, comma-separated.
    pub mounts: String,
}

impl Grants {
    /// What can be refused without building anything: host patterns that do
    /// not parse, a namespace that is not a name. Checked before a run
    /// waits for a slot.
    pub fn check(&self) -> Result<(), GrantError> {
        for (i, p) in self.allowed_hosts.iter().enumerate() {
            p.parse::<HostPattern>()
                .map_err(|e| GrantError::client(format!("allowed_hosts[{i}]"), e.to_string()))?;
        }
        if let Some(namespace) = &self.kv_namespace {
            kv::check_namespace(namespace)
                .map_err(|e| GrantError::client("kv_namespace", e.to_string()))?;
        }
        Ok(())
    }

    /// For the audit line; host patterns in their canonical spelling.
    pub fn used(&self) -> GrantsUsed {
        GrantsUsed {
            functions: self.functions.join(","),
            allowed_hosts: self
                .allowed_hosts
                .iter()
                .map(|p| {
                    p.parse::<HostPattern>()
                        .map_or_else(|_| p.trim().to_owned(), |p| p.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            kv_namespace: self
                .kv_namespace
                .clone()
                .unwrap_or_else(|| "(private)".to_owned()),
            mounts: self
                .mounts
                .iter()
                .map(|m| format!("{}:{}:{}", m.name, m.guest_path, m.mode))
                .chain(
                    self.opened_mounts
                        .iter()
                        .map(|m| format!("{}:{}", m.guest_path(), m.mode())),
                )
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// A grant that cannot be given: which field, and why.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct GrantError {
    pub field: String,
    pub message: String,
    pub fault: GrantFault,
}

/// Whose the fault is, which decides the answer's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantFault {
    /// The request does not parse (a host pattern, a namespace name, a path).
    Invalid,
    /// Well-formed, but for more than this server offers: a function or
    /// mount point it does not have, a mode beyond the point's.
    NotOffered,
    /// The host is at fault (a mount directory vanished), not the request.
    Server,
}

impl GrantError {
    fn client(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            fault: GrantFault::Invalid,
        }
    }
}

/// A mount as granted to a run: also opened with `open()` by runtimes that
/// preopen it.
#[derive(Debug, Clone)]
pub struct GrantedMount {
    pub guest_path: String,
    pub host_path: std::path::PathBuf,
    pub mode: fs::Mode,
}

/// One run's grants, built: its host functions and its mounts.
#[derive(Debug)]
pub struct Granted {
    pub host: HostCalls,
    pub mounts: Vec<GrantedMount>,
}

/// Everything a grant can draw on; built once at start-up.
#[derive(Clone)]
pub struct Capabilities {
    pub registry: Registry,
    pub kv: Arc<dyn KvStore>,
    pub kv_limits: KvLimits,
    pub http: Arc<HttpConfig>,
    pub mount_points: BTreeMap<String, MountConfig>,
    pub fs_limits: FsLimits,
}

impl Default for Capabilities {
    fn default() -> Self {
        let kv_limits = KvLimits::default();
        Self {
            registry: Registry::new(),
            kv: Arc::new(MemoryKv::new(kv_limits)),
            kv_limits,
            http: Arc::new(HttpConfig::default()),
            mount_points: BTreeMap::new(),
            fs_limits: FsLimits::default(),
        }
    }
}

impl Capabilities {
    /// The host functions for one run; `field` names in errors are relative
    /// to the policy (`functions`, `kv_namespace`, `allowed_hosts[1]`, ...).
    pub fn grant(&self, grants: Grants, deadline: Instant) -> Result<Granted, GrantError> {
        if let Some(unknown) = grants
            .functions
            .iter()
            .find(|f| !self.registry.names().any(|n| n == f.as_str()))
        {
            let mut known: Vec<&str> = self.registry.names().collect();
            known.sort_unstable();
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(GrantError {
                field: "functions".to_owned(),
                message: format!(
                    "functions names {unknown:?}, which is not offered here; known: {known}"
                ),
                fault: GrantFault::NotOffered,
            });
        }
        let mut calls = self.registry.grant(grants.functions);
        calls.extend(grants.extra);

        match grants.kv_namespace {
            Some(namespace) => {
                kv::check_namespace(&namespace)
                    .map_err(|e| GrantError::client("kv_namespace", e.to_string()))?;
                let store: Arc<dyn KvStore> = match grants.kv_scope {
                    Some(scope) => Arc::new(ScopedKv::new(self.kv.clone(), scope)),
                    None => self.kv.clone(),
                };
                kv::register(&mut calls, store, namespace);
            }
            // A store of its own: dies with the run, never seen by another.
            None => kv::register(
                &mut calls,
                Arc::new(MemoryKv::new(self.kv_limits)),
                "run".to_owned(),
            ),
        }

        if !grants.allowed_hosts.is_empty() {
            let patterns = grants
                .allowed_hosts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    p.parse::<HostPattern>().map_err(|e| {
                        GrantError::client(format!("allowed_hosts[{i}]"), e.to_string())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            http::register(&mut calls, self.http.clone(), patterns, deadline);
        }

        let mut mounts = grants.opened_mounts;
        if !grants.mounts.is_empty() {
            let opened = fs::resolve_requests(&self.mount_points, &grants.mounts).map_err(|e| {
                let fault = if !e.is_client_error() {
                    GrantFault::Server
                } else if e.is_not_offered() {
                    GrantFault::NotOffered
                } else {
                    GrantFault::Invalid
                };
                GrantError {
                    field: e.field().map_or_else(|| "mounts".to_owned(), str::to_owned),
                    message: e.to_string(),
                    fault,
                }
            })?;
            mounts.extend(opened);
        }
        let granted_mounts = mounts
            .iter()
            .map(|m| GrantedMount {
                guest_path: m.guest_path(),
                host_path: m.host_path().to_owned(),
                mode: m.mode(),
            })
            .collect();
        if !mounts.is_empty() {
            fs::register(&mut calls, mounts, self.fs_limits);
        }
        Ok(Granted {
            host: calls,
            mounts: granted_mounts,
        })
    }
}
