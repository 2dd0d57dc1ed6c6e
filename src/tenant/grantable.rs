//! What a tenant may grant its runs. A policy may only narrow it: each host
//! pattern must be covered by one of the tenant's, each function, mount and
//! KV namespace must be among its own, a mount's mode at most its own.

use std::collections::{BTreeMap, BTreeSet};

use crate::host::Grants;
use crate::host::fs::Mode;
use crate::host::http::HostPattern;

/// A grant a tenant may not give; `field` is relative to the policy
/// (`allowed_hosts[0]`, `mounts[1].mode`, `kv_namespace`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    pub field: String,
    pub message: String,
}

/// A KV namespace a tenant may use: `*`, `prefix*`, or an exact name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePattern {
    Prefix(String),
    Exact(String),
}

impl NamePattern {
    pub fn parse(text: &str) -> Self {
        match text.strip_suffix('*') {
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(text.to_owned()),
        }
    }

    /// The pattern without its `*` must itself be a valid (part of a) name.
    pub fn stem(&self) -> &str {
        match self {
            Self::Prefix(p) | Self::Exact(p) => p,
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Prefix(prefix) => name.starts_with(prefix.as_str()),
            Self::Exact(exact) => name == exact,
        }
    }

    fn show(&self) -> String {
        match self {
            Self::Prefix(p) => format!("{p}*"),
            Self::Exact(e) => e.clone(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Grantable {
    pub hosts: Vec<HostPattern>,
    pub functions: BTreeSet<String>,
    pub mounts: BTreeMap<String, Mode>,
    pub kv_namespaces: Vec<NamePattern>,
}

fn listed(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    if all.is_empty() {
        "nothing".to_owned()
    } else {
        all.join(", ")
    }
}

impl Grantable {
    /// Refuses the first grant of `grants` beyond what `tenant` may give.
    pub fn check(&self, tenant: &str, grants: &Grants) -> Result<(), Denied> {
        for (i, text) in grants.allowed_hosts.iter().enumerate() {
            // A pattern that does not parse is refused (400) where grants
            // are built; only a valid one can be beyond the tenant.
            let Ok(asked) = text.parse::<HostPattern>() else {
                continue;
            };
            if !self.hosts.iter().any(|own| own.covers(&asked)) {
                return Err(Denied {
                    field: format!("allowed_hosts[{i}]"),
                    message: format!(
                        "allowed_hosts[{i}] = {text:?} is beyond what tenant {tenant:?} may \
                         grant; its hosts: {}",
                        listed(self.hosts.iter().map(ToString::to_string))
                    ),
                });
            }
        }
        for (i, name) in grants.functions.iter().enumerate() {
            if !self.functions.contains(name) {
                return Err(Denied {
                    field: format!("functions[{i}]"),
                    message: format!(
                        "functions[{i}] = {name:?} is not a function tenant {tenant:?} may \
                         grant; its functions: {}",
                        listed(self.functions.iter().cloned())
                    ),
                });
            }
        }
        for (i, mount) in grants.mounts.iter().enumerate() {
            match self.mounts.get(&mount.name) {
                None => {
                    return Err(Denied {
                        field: format!("mounts[{i}].name"),
                        message: format!(
                            "mounts[{i}].name = {:?} is not a mount tenant {tenant:?} may \
                             grant; its mounts: {}",
                            mount.name,
                            listed(self.mounts.iter().map(|(n, m)| format!("{n} ({m})")))
                        ),
                    });
                }
                Some(max) if mount.mode > *max => {
                    return Err(Denied {
                        field: format!("mounts[{i}].mode"),
                        message: format!(
                            "mounts[{i}].mode = {} is beyond what tenant {tenant:?} may grant \
                             on {:?}: at most {max}",
                            mount.mode, mount.name
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(namespace) = &grants.kv_namespace {
            self.check_namespace(tenant, namespace)
                .map_err(|message| Denied {
                    field: "kv_namespace".to_owned(),
                    message: format!("kv_namespace = {message}"),
                })?;
        }
        Ok(())
    }

    /// A namespace the tenant may use, or why not (the text after `name = `).
    pub fn check_namespace(&self, tenant: &str, namespace: &str) -> Result<(), String> {
        if self.kv_namespaces.iter().any(|p| p.matches(namespace)) {
            Ok(())
        } else {
            Err(format!(
                "{namespace:?} is not a KV namespace tenant {tenant:?} may use; its namespaces: {}",
                listed(self.kv_namespaces.iter().map(NamePattern::show))
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fs::MountRequest;

    fn grantable() -> Grantable {
        Grantable {
            hosts: vec!["*.example.com".parse().unwrap()],
            functions: ["lookup".to_owned()].into(),
            mounts: [("data".to_owned(), Mode::Ro)].into(),
            kv_namespaces: vec![NamePattern::parse("acme-*"), NamePattern::parse("shared")],
        }
    }

    fn denied_field(grants: Grants) -> Option<String> {
        grantable().check("acme", &grants).err().map(|d| d.field)
    }

    #[test]
    fn a_narrower_policy_passes() {
        let grants = Grants {
            allowed_hosts: vec!["api.example.com".into(), "*.eu.example.com".into()],
            functions: vec!["lookup".into()],
            mounts: vec![MountRequest {
                name: "data".into(),
                guest_path: "/data".into(),
                mode: Mode::Ro,
            }],
            kv_namespace: Some("acme-jobs".into()),
            ..Grants::default()
        };
        assert_eq!(denied_field(grants), None);
    }

    #[test]
    fn each_grant_beyond_the_tenant_is_named() {
        let hosts = Grants {
            allowed_hosts: vec!["api.example.com".into(), "evil.com".into()],
            ..Grants::default()
        };
        assert_eq!(denied_field(hosts).as_deref(), Some("allowed_hosts[1]"));
        let functions = Grants {
            functions: vec!["delete_everything".into()],
            ..Grants::default()
        };
        assert_eq!(denied_field(functions).as_deref(), Some("functions[0]"));
        let mode = Grants {
            mounts: vec![MountRequest {
                name: "data".into(),
                guest_path: "/data".into(),
                mode: Mode::Rw,
            }],
            ..Grants::default()
        };
        assert_eq!(denied_field(mode).as_deref(), Some("mounts[0].mode"));
        let namespace = Grants {
            kv_namespace: Some("shared-2".into()),
            ..Grants::default()
        };
        assert_eq!(denied_field(namespace).as_deref(), Some("kv_namespace"));
    }
}
