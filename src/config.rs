//! Service configuration: defaults, then `config/goru.toml` (or `--config`),
//! then `GORU_*` environment variables, then flags. Unknown keys in the file
//! fail start-up, naming the key.
//!
//! Every leaf setting has an environment variable named after its path:
//! `server.concurrency` is `GORU_SERVER_CONCURRENCY`, `listen` is
//! `GORU_LISTEN`, `limits.ceiling.timeout_ms` is `GORU_LIMITS_CEILING_TIMEOUT_MS`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::host::fs::{FsLimits, MountConfig};
use crate::host::functions::FunctionConfig;
use crate::host::http::{HttpConfig, SecretHeader};
use crate::host::kv::KvSettings;
use crate::host::{Capabilities, Registry};
use crate::mcp::McpConfig;
use crate::sandbox::{
    EngineOptions, FilesConfig, IDLE_TRIM, KEEP_RESIDENT_MEMORY, LimitPolicy, Limits,
    ResetStrategy, SandboxConfig,
};
use crate::session::SessionConfig;
use crate::tenant::{AuthMode, MetricsAccess, TenantConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration{}: {message}", origin.as_deref().map(|o| format!(" in {o}")).unwrap_or_default())]
    Invalid {
        origin: Option<String>,
        message: String,
    },
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: None,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on. Loopback by default: exposing the service is a choice.
    pub listen: SocketAddr,
    /// Built guest runtimes (`make build` puts them in build/runtimes).
    pub runtime_dir: PathBuf,
    /// Compiled-guest cache; an empty string disables it.
    pub cache_dir: PathBuf,
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    /// Interpreters kept between requests (`/sessions`).
    pub sessions: SessionConfig,
    /// Each run's working directory: its quota and the files crossing it.
    pub files: FilesConfig,
    pub log: LogConfig,
    /// Where shared KV namespaces live (`backend`: memory or redis) and
    /// the limits every namespace has.
    pub kv: KvSettings,
    pub http: HttpSettings,
    /// Size caps for mounted files.
    pub fs: FsLimits,
    /// How freed instance slots are reset between runs.
    pub engine: EngineSettings,
    /// Mount points policies may ask for by name: `[mounts.data] path = "...", max_mode = "ro"`.
    pub mounts: BTreeMap<String, MountConfig>,
    /// Custom functions backed by internal endpoints: `[functions.get_user] url = "..."`.
    pub functions: BTreeMap<String, FunctionConfig>,
    /// The MCP tool server (`/mcp`, `goru mcp`) and the policy its runs get.
    pub mcp: McpConfig,
    /// Whether requests need an API key: "auto" (when tenants exist),
    /// "keys", or "none" (no keys, on any address: an explicit choice).
    pub auth: AuthMode,
    /// Callers with API keys: `[tenants.acme] key_sha256 = ["..."]`.
    pub tenants: BTreeMap<String, TenantConfig>,
}

/// `[http]`: what allow-listed HTTP may reach beyond a run's `allowed_hosts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Internal addresses or CIDRs guests may reach anyway (refused otherwise:
    /// loopback, private, link-local, metadata, ...).
    pub allow_addresses: Vec<String>,
    pub max_url_bytes: usize,
    pub max_request_body_bytes: usize,
    /// Bodies past this are cut and flagged `truncated`.
    pub max_response_body_bytes: usize,
    pub max_calls_per_run: u32,
    pub call_timeout_ms: u64,
    pub max_redirects: u32,
    /// Headers added to requests for a host; the value is read from an
    /// environment variable so the secret never sits in the file.
    pub secrets: Vec<SecretSetting>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSetting {
    /// A host pattern, as in `allowed_hosts`.
    pub host: String,
    pub header: String,
    /// The environment variable holding the header's value.
    pub value_env: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let d = HttpConfig::default();
        Self {
            allow_addresses: d.allow_addresses,
            max_url_bytes: d.max_url_bytes,
            max_request_body_bytes: d.max_request_body_bytes,
            max_response_body_bytes: d.max_response_body_bytes,
            max_calls_per_run: d.max_calls_per_run,
            call_timeout_ms: d.call_timeout.as_millis() as u64,
            max_redirects: d.max_redirects,
            secrets: Vec::new(),
        }
    }
}

impl HttpSettings {
    /// Reads each secret's value from its environment variable.
    fn to_http_config(&self, env: &BTreeMap<String, String>) -> Result<HttpConfig, ConfigError> {
        let secrets = self
            .secrets
            .iter()
            .map(|s| {
                let value = env.get(&s.value_env).ok_or_else(|| {
                    invalid(format!(
                        "http.secrets for host {:?}: environment variable {} is not set",
                        s.host, s.value_env
                    ))
                })?;
                Ok(SecretHeader {
                    host: s.host.clone(),
                    header: s.header.clone(),
                    value: value.clone(),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let config = HttpConfig {
            allow_addresses: self.allow_addresses.clone(),
            secrets,
            max_url_bytes: self.max_url_bytes,
            max_request_body_bytes: self.max_request_body_bytes,
            max_response_body_bytes: self.max_response_body_bytes,
            max_calls_per_run: self.max_calls_per_run,
            call_timeout: Duration::from_millis(self.call_timeout_ms),
            max_redirects: self.max_redirects,
        };
        config
            .validate()
            .map_err(|e| invalid(format!("http: {e}")))?;
        Ok(config)
    }
}

/// `[engine]`: how a freed instance slot's memory is made ready for the next
/// run. Every run gets the snapshot's exact bytes either way; these trade CPU
/// per run against resident memory, and which wins depends on the host.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// "copy" (the whole kept-resident region back from the image) or "scan"
    /// (only the pages the slot wrote, found with PAGEMAP_SCAN; Linux 6.7+).
    pub reset: ResetStrategy,
    /// MiB of each used memory slot kept mapped between runs; the rest is
    /// given back to the kernel and faulted in again by the next run.
    pub keep_resident_mb: u64,
    /// Seconds without a slot taken or given back after which idle slots
    /// give everything back to the kernel; 0 = never.
    pub idle_trim_seconds: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            reset: ResetStrategy::default(),
            keep_resident_mb: KEEP_RESIDENT_MEMORY as u64 / MIB,
            idle_trim_seconds: IDLE_TRIM.as_secs(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Runs starting at once: a run holds one of these slots for its first
    /// `long_after_ms`, then moves to the long lane.
    pub concurrency: usize,
    /// Runs past `long_after_ms` going on at once besides (sharing the CPU);
    /// 0 = a run keeps its start slot to the end.
    pub long_runs: usize,
    pub long_after_ms: u64,
    /// Requests waiting for a start slot at most; past this, 503.
    pub queue: usize,
    /// Longest wait for a start slot, expected or actual, before 503.
    pub queue_timeout_ms: u64,
    /// Pre-instantiated `python` sandboxes kept ready.
    pub pool_size: usize,
    /// Largest request body.
    pub body_limit_bytes: usize,
    /// A connection must send a request's headers within this (HTTP/1).
    pub header_timeout_ms: u64,
    /// A request body must arrive whole within this.
    pub body_timeout_ms: u64,
    /// Requests that are not runs (KV, sessions' listing, metrics, ...) are
    /// answered within this or get 503.
    pub request_timeout_ms: u64,
    /// Connections open at once; accepting waits beyond.
    pub max_connections: usize,
    /// `/kv` requests handled at once; beyond they wait (up to
    /// `queue_timeout_ms`, then 503).
    pub kv_concurrency: usize,
    /// On SIGTERM/SIGINT, how long in-flight runs may finish before they end as `cancelled`.
    pub shutdown_grace_ms: u64,
    /// Runtimes compiled (or loaded from the cache) at start-up.
    pub precompile: Vec<String>,
    /// Who may read `/metrics`: "open", or "keys" (tenants with `read_metrics`).
    pub metrics_access: MetricsAccess,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Applied when a request does not set a limit.
    pub default: LimitValues,
    /// No request may go above these.
    pub ceiling: LimitValues,
}

/// Limits as the configuration writes them: `[limits.default]`,
/// `[limits.ceiling]`, and a tenant's `ceiling` (where a field left out, or
/// 0, means the server's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitValues {
    pub timeout_ms: u64,
    pub memory_mb: u64,
    /// 0 = unmetered (for `default`) or unlimited (for `ceiling`).
    pub fuel: u64,
    pub max_output_bytes: u64,
    pub max_stdin_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter: `info`, `goru=debug,tower_http=info`, ...
    pub level: String,
}

/// Long runs each hold an instance of up to the default memory limit: as
/// many as half the machine's memory holds at 256 MiB each, 4 to 256.
fn default_long_runs() -> usize {
    let total_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(4096, |kib| kib / 1024);
    usize::try_from(total_mib / 2 / 256)
        .unwrap_or(4)
        .clamp(4, 256)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            runtime_dir: SandboxConfig::default_runtime_dir(),
            cache_dir: SandboxConfig::default_cache_dir().unwrap_or_default(),
            server: ServerConfig::default(),
            limits: LimitsConfig::default(),
            sessions: SessionConfig::default(),
            files: FilesConfig::default(),
            log: LogConfig::default(),
            kv: KvSettings::default(),
            http: HttpSettings::default(),
            fs: FsLimits::default(),
            engine: EngineSettings::default(),
            mounts: BTreeMap::new(),
            functions: BTreeMap::new(),
            mcp: McpConfig::default(),
            auth: AuthMode::default(),
            tenants: BTreeMap::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            concurrency: 2 * cores(),
            long_runs: default_long_runs(),
            long_after_ms: 100,
            queue: 512,
            queue_timeout_ms: 30_000,
            pool_size: 2 * cores(),
            body_limit_bytes: 2 << 20,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            request_timeout_ms: 30_000,
            max_connections: 4096,
            kv_concurrency: 64,
            shutdown_grace_ms: 10_000,
            precompile: vec!["python".into(), "python3.12".into(), "javascript".into()],
            metrics_access: MetricsAccess::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let policy = LimitPolicy::default();
        Self {
            default: LimitValues::from_limits(&policy.default),
            ceiling: LimitValues::from_limits(&policy.ceiling),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

const MIB: u64 = 1 << 20;
/// The largest memory ceiling: wasm32 memories address 4 GiB.
const MAX_MEMORY_MB: u64 = 4096;
/// Instance slots at most (see `Config::instance_slots`): 8192 × 8 GiB is
/// 64 TiB, half of a 47-bit address space.
const MAX_INSTANCE_SLOTS: usize = 8192;

impl LimitValues {
    fn from_limits(l: &Limits) -> Self {
        Self {
            timeout_ms: l.timeout.as_millis() as u64,
            memory_mb: l.memory_bytes / MIB,
            fuel: l.fuel.unwrap_or(0),
            max_output_bytes: l.max_output_bytes,
            max_stdin_bytes: l.max_stdin_bytes,
        }
    }

    fn to_limits(self) -> Limits {
        Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            memory_bytes: self.memory_mb.saturating_mul(MIB),
            fuel: (self.fuel > 0).then_some(self.fuel),
            max_output_bytes: self.max_output_bytes,
            max_stdin_bytes: self.max_stdin_bytes,
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then `GORU_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut merged =
            toml::Table::try_from(Config::default()).map_err(|e| invalid(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                origin: Some(path.display().to_string()),
                message: e.to_string(),
            })?;
            // Check the file on its own first, so an unknown key is reported
            // against the file that has it.
            Config::deserialize(toml::Value::Table(merge(merged.clone(), table.clone()))).map_err(
                |e| ConfigError::Invalid {
                    origin: Some(path.display().to_string()),
                    message: e.to_string(),
                },
            )?;
            merged = merge(merged, table);
        }
        let names = env_names(
            &toml::Table::try_from(Config::default()).map_err(|e| invalid(e.to_string()))?,
        );
        for (name, value) in env {
            let Some(path) = names.get(&name) else {
                continue;
            };
            set_path(&mut merged, path, parse_env_value(&value));
        }
        let config =
            Config::deserialize(toml::Value::Table(merged)).map_err(|e| ConfigError::Invalid {
                origin: Some("GORU_* environment".into()),
                message: e.to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.sessions.validate().map_err(invalid)?;
        self.kv.validate().map_err(|e| invalid(e.to_string()))?;
        self.mcp.validate().map_err(invalid)?;
        let positive = [
            ("server.concurrency", self.server.concurrency as u64),
            ("server.header_timeout_ms", self.server.header_timeout_ms),
            ("server.body_timeout_ms", self.server.body_timeout_ms),
            ("server.request_timeout_ms", self.server.request_timeout_ms),
            ("server.queue_timeout_ms", self.server.queue_timeout_ms),
            ("server.max_connections", self.server.max_connections as u64),
            ("server.kv_concurrency", self.server.kv_concurrency as u64),
            (
                "server.body_limit_bytes",
                self.server.body_limit_bytes as u64,
            ),
            ("kv.max_key_bytes", self.kv.limits.max_key_bytes as u64),
            ("kv.max_value_bytes", self.kv.limits.max_value_bytes as u64),
            (
                "kv.max_keys_per_namespace",
                self.kv.limits.max_keys_per_namespace as u64,
            ),
            (
                "kv.max_bytes_per_namespace",
                self.kv.limits.max_bytes_per_namespace as u64,
            ),
            ("kv.max_namespaces", self.kv.limits.max_namespaces as u64),
            ("kv.max_total_bytes", self.kv.limits.max_total_bytes as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(format!("{key} must be at least 1")));
            }
        }
        let d = &self.limits.default;
        let c = &self.limits.ceiling;
        if self.engine.keep_resident_mb > c.memory_mb {
            return Err(invalid(format!(
                "engine.keep_resident_mb {} is more than limits.ceiling.memory_mb {}: \
                 a slot never holds more than a run may use",
                self.engine.keep_resident_mb, c.memory_mb
            )));
        }
        let pairs = [
            ("timeout_ms", d.timeout_ms, c.timeout_ms),
            ("memory_mb", d.memory_mb, c.memory_mb),
            ("max_output_bytes", d.max_output_bytes, c.max_output_bytes),
            ("max_stdin_bytes", d.max_stdin_bytes, c.max_stdin_bytes),
        ];
        for (name, default, ceiling) in pairs {
            if default > ceiling {
                return Err(invalid(format!(
                    "limits.default.{name} = {default} is above limits.ceiling.{name} = {ceiling}"
                )));
            }
        }
        if c.fuel != 0 && d.fuel > c.fuel {
            return Err(invalid(format!(
                "limits.default.fuel = {} is above limits.ceiling.fuel = {}",
                d.fuel, c.fuel
            )));
        }
        if c.memory_mb > MAX_MEMORY_MB {
            return Err(invalid(format!(
                "limits.ceiling.memory_mb = {} is above {MAX_MEMORY_MB}: a wasm32 memory addresses at most 4 GiB",
                c.memory_mb
            )));
        }
        // The defaults must make a run on their own (a zero timeout does not).
        self.limit_policy()
            .resolve(&crate::sandbox::LimitRequest::default())
            .map_err(|e| invalid(format!("limits.default.{e}")))?;
        self.instance_slots()?;
        if d.memory_mb < crate::sandbox::MIN_MEMORY_MB {
            return Err(invalid(format!(
                "limits.default.memory_mb must be at least {}",
                crate::sandbox::MIN_MEMORY_MB
            )));
        }
        for lang in &self.server.precompile {
            if !crate::sandbox::LANGUAGES.contains(&lang.as_str()) {
                return Err(invalid(format!(
                    "server.precompile names unknown language {lang:?}; known: {}",
                    crate::sandbox::LANGUAGES.join(", ")
                )));
            }
        }
        // Checked after the defaults: MCP limits of 0 take them.
        let (mcp_limits, _) = self.mcp.policy.to_policy().split();
        self.limit_policy()
            .resolve(&mcp_limits)
            .map_err(|e| invalid(format!("mcp.policy: {e}")))?;
        Ok(())
    }

    pub fn limit_policy(&self) -> LimitPolicy {
        let mut ceiling = self.limits.ceiling.to_limits();
        if ceiling.fuel.is_none() {
            ceiling.fuel = Some(u64::MAX / 2);
        }
        LimitPolicy {
            default: self.limits.default.to_limits(),
            ceiling,
        }
    }

    /// Instance slots the pooling allocator reserves: runs in flight, the
    /// pool, and instances still being reset in the background after their
    /// run (twice those), each live session, and some slack. Each slot's
    /// memories reserve address space up front (about 8 GiB), so their
    /// number is bounded here, naming the settings, rather than by a failed
    /// mmap at start-up.
    fn instance_slots(&self) -> Result<u32, ConfigError> {
        let s = &self.server;
        let slots = s
            .concurrency
            .checked_add(s.long_runs)
            .and_then(|n| n.checked_add(s.pool_size))
            .and_then(|n| n.checked_mul(2))
            .and_then(|n| n.checked_add(self.sessions.max_live))
            .and_then(|n| n.checked_add(16))
            .filter(|&n| n <= MAX_INSTANCE_SLOTS);
        slots.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
            invalid(format!(
                "2 × (server.concurrency {} + server.long_runs {} + server.pool_size {}) + \
                 sessions.max_live {} + 16 instance slots is more than {MAX_INSTANCE_SLOTS}; \
                 each reserves about 8 GiB of address space",
                s.concurrency, s.long_runs, s.pool_size, self.sessions.max_live
            ))
        })
    }

    pub fn sandbox_config(&self) -> SandboxConfig {
        // Checked by `validate`; a config built in code gets the bound.
        let slots = self.instance_slots().unwrap_or(MAX_INSTANCE_SLOTS as u32);
        SandboxConfig {
            runtime_dir: self.runtime_dir.clone(),
            cache_dir: (!self.cache_dir.as_os_str().is_empty()).then(|| self.cache_dir.clone()),
            limits: self.limit_policy(),
            engine: EngineOptions {
                instances: slots,
                max_memory_bytes: self.limits.ceiling.memory_mb.saturating_mul(MIB),
                reset: self.engine.reset,
                // Checked by `validate` (at most the memory ceiling).
                keep_resident_bytes: usize::try_from(self.engine.keep_resident_mb * MIB)
                    .unwrap_or(usize::MAX),
                idle_trim: Duration::from_secs(self.engine.idle_trim_seconds),
            },
            files: Some(self.files.clone()),
        }
    }

    /// What runs may be granted: KV, HTTP, mounts and the functions of
    /// `registry` plus the configured ones. Checks every mount path and
    /// secret now, so a typo fails start-up instead of a run.
    pub fn capabilities(
        &self,
        mut registry: Registry,
        env: &BTreeMap<String, String>,
    ) -> Result<Capabilities, ConfigError> {
        crate::host::functions::register_remote(&mut registry, &self.functions)
            .map_err(|e| invalid(e.to_string()))?;
        crate::host::fs::check_config(&self.mounts).map_err(|e| invalid(format!("mounts: {e}")))?;
        let http = self.http.to_http_config(env)?;
        Ok(Capabilities {
            registry,
            kv: self
                .kv
                .open(self.kv_quotas())
                .map_err(|e| invalid(e.to_string()))?,
            kv_limits: self.kv.limits,
            http: std::sync::Arc::new(http),
            mount_points: self.mounts.clone(),
            fs_limits: self.fs,
        })
    }

    /// Each tenant's KV quota, by the scope its namespaces are stored under.
    fn kv_quotas(&self) -> std::collections::HashMap<String, crate::host::kv::ScopeQuota> {
        self.tenants
            .iter()
            .map(|(name, t)| {
                let quota = crate::host::kv::ScopeQuota {
                    max_bytes: t.kv_max_bytes,
                    max_namespaces: t.kv_max_namespaces,
                };
                (name.clone(), quota)
            })
            .collect()
    }

    /// The whole configuration as TOML, for `goru serve --print-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

fn merge(mut base: toml::Table, over: toml::Table) -> toml::Table {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                let merged = merge(std::mem::take(b), o);
                *b = merged;
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
    base
}

/// `GORU_A_B_C` for every leaf `a.b.c` of the default configuration.
fn env_names(table: &toml::Table) -> BTreeMap<String, Vec<String>> {
    fn walk(
        table: &toml::Table,
        prefix: &mut Vec<String>,
        out: &mut BTreeMap<String, Vec<String>>,
    ) {
        for (key, value) in table {
            prefix.push(key.clone());
            if let toml::Value::Table(t) = value {
                walk(t, prefix, out);
            } else {
                out.insert(
                    format!("GORU_{}", prefix.join("_").to_uppercase()),
                    prefix.clone(),
                );
            }
            prefix.pop();
        }
    }
    let mut out = BTreeMap::new();
    walk(table, &mut Vec::new(), &mut out);
    // Tables of named entries have no leaves by default; the whole table is
    // one variable, a TOML inline table: GORU_TENANTS='{acme = {key_env = ["ACME_KEY"]}}'.
    out.insert("GORU_TENANTS".to_owned(), vec!["tenants".to_owned()]);
    out
}

/// A TOML value when the text is one (`8`, `true`, `["python"]`), else a string.
fn parse_env_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(next) = entry else {
            return;
        };
        current = next;
    }
    current.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_listen_on_loopback() {
        let config = Config::load(None, env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn the_shipped_config_file_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/goru.toml");
        let from_file = Config::load(Some(&path), env(&[])).unwrap();
        let defaults = Config::default();
        assert_eq!(from_file.listen, defaults.listen);
        assert_eq!(from_file.server.queue, defaults.server.queue);
        assert_eq!(
            from_file.limits.ceiling.timeout_ms,
            defaults.limits.ceiling.timeout_ms
        );
        assert_eq!(from_file.mcp, defaults.mcp);
    }

    #[test]
    fn the_mcp_policy_is_set_by_the_operator_and_checked_against_the_ceilings() {
        let config = Config::load(None, env(&[("GORU_MCP_POLICY_TIMEOUT_MS", "2500")])).unwrap();
        assert_eq!(config.mcp.policy.timeout_ms, 2500);
        let err = Config::load(None, env(&[("GORU_MCP_POLICY_MEMORY_MB", "999999")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mcp.policy") && err.contains("memory"),
            "{err}"
        );
        let err = Config::load(None, env(&[("GORU_MCP_DEFAULT_LANGUAGE", "cobol")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("mcp.default_language"), "{err}");
    }

    #[test]
    fn tenants_and_auth_come_from_the_environment_too() {
        let config = Config::load(
            None,
            env(&[
                ("GORU_AUTH", "keys"),
                (
                    "GORU_TENANTS",
                    r#"{app = {key_env = ["APP_KEY"], runs_per_second = 5, mounts = {}}}"#,
                ),
            ]),
        )
        .unwrap();
        assert_eq!(config.auth, AuthMode::Keys);
        assert_eq!(config.tenants["app"].key_env, ["APP_KEY"]);
        assert_eq!(config.tenants["app"].runs_per_second, 5.0);
        assert_eq!(config.tenants["app"].kv_namespaces, ["*"]);
        let err = Config::load(None, env(&[("GORU_TENANTS", "{app = {keys = []}}")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("keys"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_the_file_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("goru.toml");
        std::fs::write(&path, "[server]\nconcurency = 4\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("concurency") && err.contains("goru.toml"),
            "{err}"
        );
    }

    #[test]
    fn environment_overrides_the_file_and_parses_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("goru.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\n[server]\nqueue = 5\n").unwrap();
        let config = Config::load(
            Some(&path),
            env(&[
                ("GORU_SERVER_QUEUE", "7"),
                ("GORU_LOG_FORMAT", "json"),
                ("GORU_LIMITS_CEILING_TIMEOUT_MS", "1000"),
                ("GORU_LIMITS_DEFAULT_TIMEOUT_MS", "500"),
                ("GORU_UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.server.queue, 7);
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.limits.ceiling.timeout_ms, 1000);
    }

    /// Each limit that would fail start-up later (or every run) is refused
    /// now, naming its key.
    #[test]
    fn limits_that_cannot_work_are_refused_naming_the_key() {
        for (vars, named) in [
            (
                &[("GORU_LIMITS_DEFAULT_TIMEOUT_MS", "0")][..],
                "limits.default.timeout_ms",
            ),
            (
                &[("GORU_LIMITS_DEFAULT_MEMORY_MB", "16")],
                "limits.default.memory_mb",
            ),
            (
                &[("GORU_LIMITS_CEILING_MEMORY_MB", "100000")],
                "limits.ceiling.memory_mb",
            ),
            (
                &[
                    ("GORU_LIMITS_DEFAULT_FUEL", "100"),
                    ("GORU_LIMITS_CEILING_FUEL", "50"),
                ],
                "limits.default.fuel",
            ),
            (
                &[("GORU_SERVER_POOL_SIZE", "1000000000")],
                "server.pool_size",
            ),
            (&[("GORU_SERVER_LONG_RUNS", "9000")], "server.long_runs"),
            (
                &[("GORU_SESSIONS_MAX_LIVE", "18446744073709551000")],
                "sessions.max_live",
            ),
            (
                &[("GORU_SERVER_HEADER_TIMEOUT_MS", "0")],
                "server.header_timeout_ms",
            ),
            (
                &[("GORU_ENGINE_KEEP_RESIDENT_MB", "5000")],
                "engine.keep_resident_mb",
            ),
            (&[("GORU_ENGINE_RESET", "madvise")], "reset"),
        ] {
            let err = Config::load(None, env(vars)).unwrap_err().to_string();
            assert!(err.contains(named), "{vars:?}: {err}");
        }
        // At the bounds, it starts.
        Config::load(None, env(&[("GORU_LIMITS_CEILING_MEMORY_MB", "4096")])).unwrap();
    }

    #[test]
    fn the_reset_strategy_comes_from_the_file_or_the_environment() {
        let d = Config::load(None, Vec::new()).unwrap();
        assert_eq!(
            (
                d.engine.reset,
                d.engine.keep_resident_mb,
                d.engine.idle_trim_seconds
            ),
            (ResetStrategy::Scan, 8, 10)
        );
        let config = Config::load(
            None,
            env(&[
                ("GORU_ENGINE_RESET", "copy"),
                ("GORU_ENGINE_KEEP_RESIDENT_MB", "8"),
                ("GORU_ENGINE_IDLE_TRIM_SECONDS", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(config.engine.reset, ResetStrategy::Copy);
        let engine = config.sandbox_config().engine;
        assert_eq!(
            (engine.reset, engine.keep_resident_bytes, engine.idle_trim),
            (ResetStrategy::Copy, 8 << 20, Duration::ZERO)
        );
    }

    #[test]
    fn a_default_above_its_ceiling_is_refused() {
        let err = Config::load(
            None,
            env(&[("GORU_LIMITS_DEFAULT_TIMEOUT_MS", "999999999")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("limits.default.timeout_ms"), "{err}");
    }

    #[test]
    fn a_badly_typed_variable_names_the_problem() {
        let err = Config::load(None, env(&[("GORU_SERVER_QUEUE", "many")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("queue") && err.contains("GORU_"), "{err}");
    }
}
