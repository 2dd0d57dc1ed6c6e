//! `[mcp]`: the MCP front end's switch, its Host allow-list, and the one
//! policy every MCP run gets. The policy is the operator's: tool arguments
//! carry code, never limits or grants, so a model cannot widen its own.

use serde::{Deserialize, Serialize};

use crate::api::Policy;
use crate::host::fs::MountRequest;
use crate::sandbox::LANGUAGES;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Serve MCP over streamable HTTP at `/mcp` on the API's listener.
    /// `goru mcp` (stdio) does not need it.
    pub enabled: bool,
    /// `run_code` and `create_session` without a `language`.
    pub default_language: String,
    /// `Host` header values `/mcp` answers (a guard against DNS rebinding);
    /// a name alone matches any port. Add the service's public name when it
    /// is exposed.
    pub allowed_hosts: Vec<String>,
    /// Browser origins `/mcp` answers, e.g. `https://app.example.com:443`;
    /// a request carrying another `Origin` is refused (none listed: every
    /// request from a web page is).
    pub allowed_origins: Vec<String>,
    pub policy: McpPolicy,
}

/// What MCP runs and sessions may use. Limits of 0 take the server's
/// defaults (`[limits.default]`); every grant is empty (denied) by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpPolicy {
    pub timeout_ms: u64,
    pub memory_mb: u64,
    pub fuel: u64,
    pub max_output_bytes: u64,
    /// Custom functions (`[functions.*]`) MCP runs may call.
    pub functions: Vec<String>,
    /// Hosts `http_*` may reach; none by default (no network).
    pub allowed_hosts: Vec<String>,
    /// A shared KV namespace; "" gives each run its own private one.
    pub kv_namespace: String,
    /// Configured mount points, as a `/run` policy names them.
    pub mounts: Vec<MountRequest>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // Agents reach for numpy, pandas and matplotlib first.
            default_language: "python-sci".into(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            policy: McpPolicy::default(),
        }
    }
}

impl McpConfig {
    /// A message naming the key, or `Ok`.
    pub fn validate(&self) -> Result<(), String> {
        if !LANGUAGES.contains(&self.default_language.as_str()) {
            return Err(format!(
                "mcp.default_language = {:?} is not a language of this build: {}",
                self.default_language,
                LANGUAGES.join(", ")
            ));
        }
        // rmcp reads an empty list as "any Host": that would silently drop
        // the guard against DNS rebinding.
        if self.allowed_hosts.is_empty() {
            return Err(
                "mcp.allowed_hosts is empty, which would answer any Host header; \
                 list the names clients use (e.g. [\"localhost\", \"goru.internal\"])"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

impl McpPolicy {
    /// The same policy a `/run` request would send, so MCP runs are checked
    /// and granted by the one pipeline.
    pub fn to_policy(&self) -> Policy {
        let limit = |v: u64| (v > 0).then_some(v);
        Policy {
            timeout_ms: limit(self.timeout_ms),
            memory_mb: limit(self.memory_mb),
            fuel: limit(self.fuel),
            max_output_bytes: limit(self.max_output_bytes),
            functions: self.functions.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            kv_namespace: (!self.kv_namespace.is_empty()).then(|| self.kv_namespace.clone()),
            mounts: self.mounts.clone(),
        }
    }
}
