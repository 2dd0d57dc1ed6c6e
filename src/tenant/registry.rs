//! The configured tenants, built and checked once at start-up, and the one
//! place a request's key is turned into its tenant.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use super::config::{AuthMode, MetricsAccess, TenantConfig};
use super::grantable::{Grantable, NamePattern};
use super::keys::{self, KeyHash};
use super::quota::Quota;
use super::{ANONYMOUS, LOCAL, Tenant};
use crate::config::{Config, LimitValues};
use crate::host::fs::MountConfig;
use crate::host::kv::check_namespace;
use crate::sandbox::MIN_MEMORY_MB;
use crate::sandbox::{LimitPolicy, Limits};

/// A tenant setting that cannot work, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TenantConfigError {
    pub key: String,
    pub message: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> TenantConfigError {
    TenantConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this server requires an API key: send `Authorization: Bearer <key>`")]
    Missing,
    #[error("the Authorization header must be `Bearer <key>`")]
    Malformed,
    #[error("the API key is not valid")]
    Invalid,
}

impl AuthError {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Invalid => "invalid",
        }
    }
}

pub struct Tenants {
    keyed: Vec<(KeyHash, Arc<Tenant>)>,
    /// The caller of a server that requires no key.
    anonymous: Option<Arc<Tenant>>,
    /// The operator's own process (stdio MCP).
    local: Arc<Tenant>,
    mode: AuthMode,
    metrics: MetricsAccess,
}

impl Tenants {
    /// Every tenant of `config`, its keys read from `env` (`key_env`).
    pub fn from_config(
        config: &Config,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, TenantConfigError> {
        let server = config.limit_policy();
        let mode = config.auth;
        match (mode, config.tenants.is_empty()) {
            (AuthMode::Keys, true) => {
                return Err(invalid(
                    "auth",
                    "auth = \"keys\" but no [tenants.<name>] is configured: no request could \
                     ever be let in",
                ));
            }
            (AuthMode::None, false) => {
                return Err(invalid(
                    "auth",
                    "auth = \"none\" but tenants are configured; their keys would be ignored. \
                     Remove auth = \"none\", or the tenants",
                ));
            }
            _ => {}
        }
        let mut keyed = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, tenant) in &config.tenants {
            let built = Arc::new(build(name, tenant, &server, config)?);
            let hashes = key_hashes(name, tenant, env)?;
            if hashes.is_empty() {
                return Err(invalid(
                    format!("tenants.{name}"),
                    "has no key: set key_sha256 (hashes from `goru key`) or key_env",
                ));
            }
            for hash in hashes {
                if !seen.insert(hash.to_hex()) {
                    return Err(invalid(
                        format!("tenants.{name}"),
                        "one of its keys is also another tenant's (or listed twice)",
                    ));
                }
                keyed.push((hash, built.clone()));
            }
        }
        let anonymous = config
            .tenants
            .is_empty()
            .then(|| Arc::new(Tenant::unrestricted(ANONYMOUS, server)));
        let metrics = config.server.metrics_access;
        if metrics == MetricsAccess::Keys
            && anonymous.is_none()
            && !config.tenants.values().any(|t| t.read_metrics)
        {
            return Err(invalid(
                "server.metrics_access",
                "is \"keys\" but no tenant has read_metrics = true: nobody could read /metrics",
            ));
        }
        Ok(Self {
            keyed,
            anonymous,
            local: Arc::new(Tenant::unrestricted(LOCAL, server)),
            mode,
            metrics,
        })
    }

    /// Without keys the server answers anyone who reaches it: only on
    /// loopback, unless the operator said `auth = "none"`.
    pub fn check_listen(&self, listen: SocketAddr) -> Result<(), TenantConfigError> {
        if self.anonymous.is_some() && self.mode == AuthMode::Auto && !listen.ip().is_loopback() {
            return Err(invalid(
                "listen",
                format!(
                    "{listen} is not a loopback address and no API keys are configured, so \
                     anyone reaching it could run code. Configure [tenants.<name>] with keys, \
                     or set auth = \"none\" (GORU_AUTH=none) to serve without keys on purpose"
                ),
            ));
        }
        Ok(())
    }

    /// A server without keys, not told `auth = "none"`: it answers only
    /// requests addressed to a loopback name.
    pub fn loopback_only(&self) -> bool {
        self.anonymous.is_some() && self.mode == AuthMode::Auto
    }

    /// No tenants at all: the operator's own process (`goru mcp` on stdio),
    /// which serves no HTTP and needs no keys.
    pub fn operator_only(config: &Config) -> Self {
        let server = config.limit_policy();
        Self {
            keyed: Vec::new(),
            anonymous: None,
            local: Arc::new(Tenant::unrestricted(LOCAL, server)),
            mode: AuthMode::Keys,
            metrics: MetricsAccess::Keys,
        }
    }

    pub fn requires_keys(&self) -> bool {
        self.anonymous.is_none()
    }

    pub fn metrics_access(&self) -> MetricsAccess {
        self.metrics
    }

    /// The operator's own process: every grant the server offers.
    pub fn local(&self) -> Arc<Tenant> {
        self.local.clone()
    }

    /// The tenant of a request with this `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Arc<Tenant>, AuthError> {
        if let Some(anonymous) = &self.anonymous {
            return Ok(anonymous.clone());
        }
        let header = authorization.ok_or(AuthError::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
        let (scheme, key) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        keys::find(&self.keyed, key.trim())
            .map(|i| self.keyed[i].1.clone())
            .ok_or(AuthError::Invalid)
    }
}

fn key_hashes(
    name: &str,
    tenant: &TenantConfig,
    env: &BTreeMap<String, String>,
) -> Result<Vec<KeyHash>, TenantConfigError> {
    let mut out = Vec::new();
    for (i, hex) in tenant.key_sha256.iter().enumerate() {
        out.push(
            KeyHash::parse_hex(hex)
                .map_err(|e| invalid(format!("tenants.{name}.key_sha256[{i}]"), e.to_string()))?,
        );
    }
    for (i, var) in tenant.key_env.iter().enumerate() {
        let key = format!("tenants.{name}.key_env[{i}]");
        let value = env
            .get(var)
            .ok_or_else(|| invalid(&key, format!("environment variable {var} is not set")))?;
        out.push(
            KeyHash::of_configured_key(value)
                .map_err(|e| invalid(&key, format!("environment variable {var} {e}")))?,
        );
    }
    Ok(out)
}

fn build(
    name: &str,
    tenant: &TenantConfig,
    server: &LimitPolicy,
    config: &Config,
) -> Result<Tenant, TenantConfigError> {
    let at = |field: &str| format!("tenants.{name}.{field}");
    if check_namespace(name).is_err() {
        return Err(invalid(
            format!("tenants.{name}"),
            "a tenant's name is 1 to 128 characters from A-Z a-z 0-9 _ . : -",
        ));
    }
    if name == ANONYMOUS || name == LOCAL {
        return Err(invalid(
            format!("tenants.{name}"),
            format!(
                "{name:?} is reserved (the keyless caller and the operator's own process are \
                 called {ANONYMOUS:?} and {LOCAL:?} in logs and metrics)"
            ),
        ));
    }
    let limits = lower(server, &tenant.ceiling)
        .map_err(|(field, message)| invalid(at(&format!("ceiling.{field}")), message))?;
    let hosts = tenant
        .allowed_hosts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.parse().map_err(|e: crate::host::http::PatternError| {
                invalid(at(&format!("allowed_hosts[{i}]")), e.to_string())
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (mount, mode) in &tenant.mounts {
        match config.mounts.get(mount) {
            None => {
                return Err(invalid(
                    at(&format!("mounts.{mount}")),
                    "names no configured mount point ([mounts.<name>])",
                ));
            }
            Some(MountConfig { max_mode, .. }) if mode > max_mode => {
                return Err(invalid(
                    at(&format!("mounts.{mount}")),
                    format!("{mode} is beyond the mount's max_mode = {max_mode}"),
                ));
            }
            Some(_) => {}
        }
    }
    let mut kv_namespaces = Vec::new();
    for (i, text) in tenant.kv_namespaces.iter().enumerate() {
        let pattern = NamePattern::parse(text);
        let stem_ok =
            (pattern.stem().is_empty() && text == "*") || check_namespace(pattern.stem()).is_ok();
        if !stem_ok {
            return Err(invalid(
                at(&format!("kv_namespaces[{i}]")),
                format!("{text:?} is not a namespace name, `prefix*` or `*`"),
            ));
        }
        kv_namespaces.push(pattern);
    }
    if !(tenant.runs_per_second.is_finite() && tenant.runs_per_second >= 0.0) {
        return Err(invalid(
            at("runs_per_second"),
            "must be a number, 0 or more",
        ));
    }
    if tenant.burst > 0 && tenant.runs_per_second == 0.0 {
        return Err(invalid(
            at("burst"),
            "is set but runs_per_second is 0 (no rate limit): set runs_per_second too",
        ));
    }
    let kv_quotas = [
        (
            "kv_max_bytes",
            tenant.kv_max_bytes,
            "kv.max_total_bytes",
            config.kv.limits.max_total_bytes,
        ),
        (
            "kv_max_namespaces",
            tenant.kv_max_namespaces,
            "kv.max_namespaces",
            config.kv.limits.max_namespaces,
        ),
    ];
    for (field, asked, store_key, store_max) in kv_quotas {
        if asked > store_max {
            return Err(invalid(
                at(field),
                format!("{asked} is above the store's {store_key} of {store_max}"),
            ));
        }
    }
    if tenant.runs_per_second > 1_000_000.0 {
        return Err(invalid(
            at("runs_per_second"),
            "is above 1000000; use 0 for no rate limit",
        ));
    }
    let quota = Quota::new(
        tenant.runs_per_second,
        tenant.burst,
        tenant.max_concurrent_runs,
    )
    .ok_or_else(|| {
        invalid(
            at("runs_per_second"),
            "is too small to be a rate (at least one run a year)",
        )
    })?;
    Ok(Tenant {
        name: name.into(),
        kv_scope: Some(name.into()),
        limits,
        grantable: Some(Grantable {
            hosts,
            functions: tenant.functions.iter().cloned().collect(),
            mounts: tenant.mounts.clone(),
            kv_namespaces,
        }),
        quota,
        max_live_sessions: (tenant.max_live_sessions > 0).then_some(tenant.max_live_sessions),
        read_metrics: tenant.read_metrics,
    })
}

const MIB: u64 = 1 << 20;

/// The server's limits lowered by a tenant's ceilings; a tenant ceiling
/// above the server's is refused (it could never be reached).
fn lower(server: &LimitPolicy, own: &LimitValues) -> Result<LimitPolicy, (&'static str, String)> {
    let c = &server.ceiling;
    let check = |field: &'static str, asked: u64, max: u64| {
        if asked > max {
            Err((
                field,
                format!("{asked} is above the server's ceiling of {max}"),
            ))
        } else {
            Ok(())
        }
    };
    check("timeout_ms", own.timeout_ms, c.timeout.as_millis() as u64)?;
    check("memory_mb", own.memory_mb, c.memory_bytes / MIB)?;
    check("fuel", own.fuel, c.fuel.unwrap_or(u64::MAX))?;
    check("max_output_bytes", own.max_output_bytes, c.max_output_bytes)?;
    check("max_stdin_bytes", own.max_stdin_bytes, c.max_stdin_bytes)?;
    if own.memory_mb != 0 && own.memory_mb < MIN_MEMORY_MB {
        return Err(("memory_mb", format!("must be at least {MIN_MEMORY_MB}")));
    }
    let pick = |own: u64, server: u64| if own == 0 { server } else { own };
    let ceiling = Limits {
        timeout: std::time::Duration::from_millis(pick(
            own.timeout_ms,
            c.timeout.as_millis() as u64,
        )),
        memory_bytes: pick(own.memory_mb.saturating_mul(MIB), c.memory_bytes),
        fuel: if own.fuel == 0 {
            c.fuel
        } else {
            Some(own.fuel)
        },
        max_output_bytes: pick(own.max_output_bytes, c.max_output_bytes),
        max_stdin_bytes: pick(own.max_stdin_bytes, c.max_stdin_bytes),
    };
    let d = &server.default;
    let default = Limits {
        timeout: d.timeout.min(ceiling.timeout),
        memory_bytes: d.memory_bytes.min(ceiling.memory_bytes),
        // A tenant with a fuel ceiling is metered by default.
        fuel: match (d.fuel, own.fuel) {
            (Some(f), 0) => Some(f),
            (Some(f), max) => Some(f.min(max)),
            (None, 0) => None,
            (None, max) => Some(max),
        },
        max_output_bytes: d.max_output_bytes.min(ceiling.max_output_bytes),
        max_stdin_bytes: d.max_stdin_bytes.min(ceiling.max_stdin_bytes),
    };
    Ok(LimitPolicy { default, ceiling })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "key-for-the-acme-tenant";

    fn config(tenant: &str) -> Config {
        let text = format!("[tenants.acme]\nkey_env = [\"ACME\"]\n{tenant}");
        let table: toml::Table = toml::from_str(&text).unwrap();
        Config {
            tenants: table["tenants"]
                .clone()
                .try_into::<BTreeMap<String, TenantConfig>>()
                .unwrap(),
            ..Config::default()
        }
    }

    fn build_err(tenant: &str) -> String {
        let env = BTreeMap::from([("ACME".to_owned(), KEY.to_owned())]);
        match Tenants::from_config(&config(tenant), &env) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_key_finds_its_tenant_and_nothing_else_does() {
        let env = BTreeMap::from([("ACME".to_owned(), KEY.to_owned())]);
        let tenants = Tenants::from_config(&config(""), &env).unwrap();
        assert!(tenants.requires_keys());
        let found = tenants
            .authenticate(Some(format!("Bearer {KEY}").as_bytes()))
            .unwrap();
        assert_eq!(found.name(), "acme");
        assert_eq!(tenants.authenticate(None).unwrap_err(), AuthError::Missing);
        assert_eq!(
            tenants.authenticate(Some(b"Basic abc")).unwrap_err(),
            AuthError::Malformed
        );
        assert_eq!(
            tenants
                .authenticate(Some(format!("Bearer {KEY}x").as_bytes()))
                .unwrap_err(),
            AuthError::Invalid
        );
    }

    #[test]
    fn a_tenant_ceiling_lowers_the_defaults_and_cannot_pass_the_server() {
        let env = BTreeMap::from([("ACME".to_owned(), KEY.to_owned())]);
        let tenants = Tenants::from_config(
            &config("[tenants.acme.ceiling]\ntimeout_ms = 1000\nfuel = 5000\n"),
            &env,
        )
        .unwrap();
        let acme = tenants
            .authenticate(Some(format!("Bearer {KEY}").as_bytes()))
            .unwrap();
        assert_eq!(acme.limits().default.timeout.as_millis(), 1000);
        assert_eq!(acme.limits().ceiling.timeout.as_millis(), 1000);
        // A fuel ceiling meters the tenant's runs by default.
        assert_eq!(acme.limits().default.fuel, Some(5000));
        let err = build_err("[tenants.acme.ceiling]\ntimeout_ms = 99999999\n");
        assert!(err.contains("tenants.acme.ceiling.timeout_ms"), "{err}");
    }

    #[test]
    fn every_bad_tenant_setting_is_named() {
        assert!(
            build_err("allowed_hosts = [\"http://x\"]").contains("tenants.acme.allowed_hosts[0]")
        );
        assert!(build_err("mounts = { nowhere = \"ro\" }").contains("tenants.acme.mounts.nowhere"));
        assert!(build_err("kv_namespaces = [\"a/b\"]").contains("tenants.acme.kv_namespaces[0]"));
        assert!(build_err("runs_per_second = -1").contains("tenants.acme.runs_per_second"));
        assert!(build_err("kv_max_bytes = 99999999999").contains("tenants.acme.kv_max_bytes"));
        assert!(build_err("kv_max_namespaces = 99999999").contains("kv.max_namespaces of 10000"));
        assert!(build_err("key_sha256 = [\"00\"]").contains("tenants.acme.key_sha256[0]"));
        assert!(build_err("burst = 5").contains("tenants.acme.burst"));
        let env = BTreeMap::new();
        let err = Tenants::from_config(&config(""), &env)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("ACME is not set"), "{err}");
        let mut twice = config("");
        twice
            .tenants
            .insert("beta".into(), twice.tenants["acme"].clone());
        let env = BTreeMap::from([("ACME".to_owned(), KEY.to_owned())]);
        let err = Tenants::from_config(&twice, &env)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("another tenant"), "{err}");
    }

    #[test]
    fn the_names_of_the_keyless_caller_and_the_operator_are_reserved() {
        for name in [ANONYMOUS, LOCAL] {
            let mut config = config("");
            let tenant = config.tenants.remove("acme").unwrap();
            config.tenants.insert(name.to_owned(), tenant);
            let env = BTreeMap::from([("ACME".to_owned(), KEY.to_owned())]);
            let err = Tenants::from_config(&config, &env)
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("reserved"), "{err}");
        }
    }

    #[test]
    fn without_keys_only_loopback_unless_said_otherwise() {
        let mut config = Config::default();
        let tenants = Tenants::from_config(&config, &BTreeMap::new()).unwrap();
        assert!(
            tenants
                .check_listen("127.0.0.1:80".parse().unwrap())
                .is_ok()
        );
        assert!(tenants.check_listen("[::1]:80".parse().unwrap()).is_ok());
        let err = tenants
            .check_listen("0.0.0.0:80".parse().unwrap())
            .unwrap_err();
        assert_eq!(err.key, "listen");
        config.auth = AuthMode::None;
        let tenants = Tenants::from_config(&config, &BTreeMap::new()).unwrap();
        assert!(tenants.check_listen("0.0.0.0:80".parse().unwrap()).is_ok());
    }
}
