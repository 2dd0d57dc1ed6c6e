//! The MCP tools. Each call is admitted, checked, run and logged exactly like
//! a `/run` request or a `/sessions` cell, through the same pipeline, with
//! the operator's MCP policy in place of a request's.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use tokio_util::sync::CancellationToken;

use super::render::{self, Context};
use super::tools::{self, CloseSession, CreateSession, InputFile, RunCode};
use std::sync::Arc;

use rmcp::model::Extensions;

use crate::api::{self, ApiError, AppState, Audit, Caller, Encoding, FileBody};
use crate::runner::{CellSpec, RunSpec, SessionSpec};
use crate::sandbox::{Limits, RUNTIMES, RunResult};
use crate::session::{Front, Owner, SessionInfo};
use crate::tenant::Tenant;

/// One MCP server over the service's state; cheap to clone (one per HTTP
/// request in stateless mode).
#[derive(Clone)]
pub struct GoruMcp {
    state: AppState,
    tool_router: ToolRouter<Self>,
    /// Serving the operator's own process on stdio (no HTTP request, no key).
    stdio: bool,
}

const INSTRUCTIONS: &str = "goru runs code in isolated WebAssembly sandboxes. Call run_code with \
a program; its output, last-expression value, errors, charts and written files come back. Each \
call is a fresh interpreter unless you pass a session_id from create_session. list_runtimes says \
which languages and packages exist and what each run may reach.";

impl GoruMcp {
    /// The server of `goru mcp`, on stdio.
    pub fn stdio(state: AppState) -> Self {
        Self {
            state,
            tool_router: Self::tool_router(),
            stdio: true,
        }
    }

    /// A server for one `/mcp` request; the tools are built once and cloned.
    pub fn for_http(state: AppState, tool_router: ToolRouter<Self>) -> Self {
        Self {
            state,
            tool_router,
            stdio: false,
        }
    }

    pub fn router() -> ToolRouter<Self> {
        Self::tool_router()
    }

    fn config(&self) -> &super::McpConfig {
        &self.state.config().mcp
    }

    /// The limits every MCP run of `tenant` gets, as the pipeline resolves them.
    fn limits(&self, tenant: &Tenant) -> Result<Limits, ApiError> {
        let (request, _) = self.config().policy.to_policy().split();
        tenant
            .limits()
            .resolve(&request)
            .map_err(|e| ApiError::from_run(e.into(), "-"))
    }

    /// Who calls: the tenant `/mcp`'s request was authenticated as, or the
    /// operator's own process on stdio (no HTTP request at all).
    fn caller(&self, extensions: &Extensions) -> Result<Arc<Tenant>, ApiError> {
        if self.stdio {
            return Ok(self.state.tenants().local());
        }
        // The API's middleware authenticates every /mcp request; one without
        // a caller did not come through it, and gets nothing.
        extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .map(|c| c.0.clone())
            .ok_or_else(|| {
                tracing::error!("an /mcp request reached a tool without an authenticated caller");
                ApiError::Internal
            })
    }

    async fn run_once(
        &self,
        tenant: Arc<Tenant>,
        args: RunCode,
    ) -> Result<CallToolResult, ApiError> {
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let (limits, grants) = self.config().policy.to_policy().split();
        let spec = RunSpec {
            code: args.code,
            language: Some(
                args.language
                    .unwrap_or_else(|| self.config().default_language.clone()),
            ),
            limits,
            grants,
            files: decode(args.files, &run_id)?,
            tenant: Some(tenant.clone()),
            ..RunSpec::default()
        };
        let checked = self
            .state
            .runner()
            .check(spec)
            .map_err(|e| ApiError::from_run(e, &run_id))?;
        let audit = Audit {
            tenant: tenant.name_arc(),
            language: checked.language().to_owned(),
            grants: checked.grants_used().clone(),
        };
        let limits = *checked.limits();
        let _admitted = self.state.admit(&tenant).await?;
        let result = tokio::select! {
            outcome = checked.run() => outcome.map_err(|e| ApiError::from_run(e, &run_id))?,
            () = self.state.hard_stop().cancelled() => return Err(shutting_down()),
        };
        api::record_run(&run_id, &audit, &result);
        Ok(render::result(
            result,
            &Context {
                language: &audit.language,
                limits: &limits,
                session: None,
            },
        ))
    }

    async fn run_in_session(
        &self,
        tenant: Arc<Tenant>,
        id: String,
        args: RunCode,
    ) -> Result<CallToolResult, ApiError> {
        let run_id = uuid::Uuid::new_v4().simple().to_string();
        let sessions = self.state.sessions();
        let owner = Owner::new(&tenant, Front::Mcp);
        let info = sessions
            .info(&owner, &id)
            .map_err(|e| ApiError::from_session(e, &run_id))?;
        if let Some(asked) = &args.language
            && *asked != info.language
        {
            return Err(ApiError::bad(
                "invalid_field",
                "language".to_owned(),
                format!(
                    "session {id} runs {}, not {asked}; omit language to use the session's, or \
                     create a session for {asked}",
                    info.language
                ),
            ));
        }
        let limits = self.limits(&tenant)?;
        let cell = CellSpec {
            code: args.code,
            files: decode(args.files, &run_id)?,
            ..CellSpec::default()
        };
        let _admitted = self.state.admit(&tenant).await?;
        let ran = tokio::select! {
            ran = sessions.run_cell(&owner, &id, cell) => ran,
            () = self.state.hard_stop().cancelled() => return Err(shutting_down()),
        };
        let (result, after): (RunResult, SessionInfo) =
            ran.map_err(|e| ApiError::from_session(e, &run_id))?;
        let audit = Audit {
            tenant: tenant.name_arc(),
            language: info.language.clone(),
            grants: info.grants.clone(),
        };
        api::record_run(&run_id, &audit, &result);
        Ok(render::result(
            result,
            &Context {
                language: &info.language,
                limits: &limits,
                session: Some(&after),
            },
        ))
    }

    async fn open_session(
        &self,
        tenant: Arc<Tenant>,
        args: CreateSession,
    ) -> Result<CallToolResult, ApiError> {
        let (limits, grants) = self.config().policy.to_policy().split();
        let mut spec = SessionSpec {
            language: Some(
                args.language
                    .unwrap_or_else(|| self.config().default_language.clone()),
            ),
            limits,
            grants,
            tenant: Some(tenant.clone()),
        };
        // What can be refused is refused before waiting; opening takes an
        // instance, so it is admitted like a run.
        let owner = Owner::new(&tenant, Front::Mcp);
        self.state
            .sessions()
            .precheck(&owner, self.state.runner(), &mut spec, None)
            .map_err(|e| ApiError::from_session(e, "-"))?;
        let _admitted = self.state.admit(&tenant).await?;
        let info = self
            .state
            .sessions()
            .create(owner, self.state.runner(), spec, None)
            .await
            .map_err(|e| ApiError::from_session(e, "-"))?;
        tracing::info!(tenant = tenant.name(), session_id = %info.session_id, language = %info.language, via = "mcp", "session opened");
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "session_id: {}\nlanguage: {}\nPass this session_id to run_code to keep state between \
             calls. It expires after {} s without a call (now: until {}).",
            info.session_id, info.language, info.ttl_seconds, info.expires_at
        ))]))
    }

    fn describe_runtimes(&self, tenant: &Tenant) -> Result<CallToolResult, ApiError> {
        let limits = self.limits(tenant)?;
        let config = self.config();
        let policy = &config.policy;
        let mut text = format!("languages (default: {}):\n", config.default_language);
        for (name, version) in RUNTIMES {
            let packages = match name {
                "python-sci" => "the standard library and the packages named in its version",
                "python" => {
                    "the standard library, and a `requests` subset that, like urllib, goes \
                     through the granted hosts"
                }
                "javascript" => {
                    "the language and its built-ins (no Intl, no fetch, no modules); host \
                     functions are globals"
                }
                _ => "the standard library only",
            };
            text.push_str(&format!("- {name}: {version}; {packages}\n"));
        }
        text.push_str(&format!(
            "every run: time limit {} ms, memory limit {} MiB, stdout and stderr kept up to {} \
             bytes each, CPU budget {}\n",
            limits.timeout.as_millis(),
            limits.memory_bytes >> 20,
            limits.max_output_bytes,
            limits
                .fuel
                .map_or("unmetered".to_owned(), |f| format!("{f} fuel units")),
        ));
        text.push_str(&match policy.allowed_hosts.as_slice() {
            [] => "network: none (no host is granted)\n".to_owned(),
            hosts => format!(
                "network: http_get(url), http_post(url, body), http_request(method, url, headers, \
                 body) may reach {}\n",
                hosts.join(", ")
            ),
        });
        text.push_str(&if policy.kv_namespace.is_empty() {
            "storage: kv_get/kv_set/kv_delete/kv_keys on a store private to each run (gone \
             after it)\n"
                .to_owned()
        } else {
            format!(
                "storage: kv_get/kv_set/kv_delete/kv_keys on the shared namespace {:?} (kept \
                 between runs)\n",
                policy.kv_namespace
            )
        });
        if !policy.mounts.is_empty() {
            let mounts: Vec<String> = policy
                .mounts
                .iter()
                .map(|m| {
                    format!(
                        "{} ({})",
                        m.guest_path,
                        format!("{:?}", m.mode).to_lowercase()
                    )
                })
                .collect();
            text.push_str(&format!(
                "mounted directories (fs_read, fs_write, fs_list, ...): {}\n",
                mounts.join(", ")
            ));
        }
        if !policy.functions.is_empty() {
            text.push_str(&format!(
                "functions: _goru_call(name, args) for {}\n",
                policy.functions.join(", ")
            ));
        }
        let sessions = self.state.sessions().config();
        text.push_str(&format!(
            "files: run_code's `files` are placed in /work; files the code writes in /work come \
             back with the result\nsessions: up to {} live at once (shared by every client), each \
             expiring after {} s without a call\n",
            sessions.max_live, sessions.default_ttl_seconds
        ));
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }
}

#[tool_router]
impl GoruMcp {
    #[tool(description = tools::RUN_CODE)]
    async fn run_code(
        &self,
        Parameters(args): Parameters<RunCode>,
        cancelled: CancellationToken,
        extensions: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        let tenant = match self.caller(&extensions) {
            Ok(tenant) => tenant,
            Err(e) => return Ok(refusal(e)),
        };
        let ran = match args.session_id.clone() {
            Some(id) => until_cancelled(&cancelled, self.run_in_session(tenant, id, args)).await,
            None => until_cancelled(&cancelled, self.run_once(tenant, args)).await,
        };
        Ok(ran.unwrap_or_else(refusal))
    }

    #[tool(description = tools::CREATE_SESSION)]
    async fn create_session(
        &self,
        Parameters(args): Parameters<CreateSession>,
        cancelled: CancellationToken,
        extensions: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        let tenant = match self.caller(&extensions) {
            Ok(tenant) => tenant,
            Err(e) => return Ok(refusal(e)),
        };
        let opened = until_cancelled(&cancelled, self.open_session(tenant, args)).await;
        Ok(opened.unwrap_or_else(refusal))
    }

    #[tool(description = tools::CLOSE_SESSION)]
    async fn close_session(
        &self,
        Parameters(args): Parameters<CloseSession>,
        extensions: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        let tenant = match self.caller(&extensions) {
            Ok(tenant) => tenant,
            Err(e) => return Ok(refusal(e)),
        };
        let closed = self
            .state
            .sessions()
            .delete(&Owner::new(&tenant, Front::Mcp), &args.session_id)
            .map(|()| {
                tracing::info!(session_id = %args.session_id, via = "mcp", "session deleted");
                CallToolResult::success(vec![ContentBlock::text(format!(
                    "session {} closed",
                    args.session_id
                ))])
            })
            .map_err(|e| ApiError::from_session(e, "-"));
        Ok(closed.unwrap_or_else(refusal))
    }

    #[tool(description = tools::LIST_RUNTIMES)]
    async fn list_runtimes(&self, extensions: Extensions) -> Result<CallToolResult, ErrorData> {
        let described = self
            .caller(&extensions)
            .and_then(|tenant| self.describe_runtimes(&tenant));
        Ok(described.unwrap_or_else(refusal))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for GoruMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("goru", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

/// Request files in the API's shape, decoded by the API's one decoder.
fn decode(files: Vec<InputFile>, run_id: &str) -> Result<Vec<crate::sandbox::InputFile>, ApiError> {
    let bodies = files
        .into_iter()
        .enumerate()
        .map(|(index, f)| {
            let encoding = match f.encoding.as_deref() {
                None | Some("utf-8") => Encoding::Utf8,
                Some("base64") => Encoding::Base64,
                Some(other) => {
                    return Err(ApiError::bad(
                        "invalid_file",
                        format!("files[{index}].encoding"),
                        format!("files[{index}].encoding = {other:?}: use \"utf-8\" or \"base64\""),
                    ));
                }
            };
            Ok(FileBody {
                path: f.path,
                content: f.content,
                encoding,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    api::decode_files(bodies).map_err(|e| ApiError::from_run(e.into(), run_id))
}

/// Runs `work` unless the client cancels the call (`notifications/cancelled`,
/// or an HTTP client hanging up): then the run is dropped, as `/run` drops a
/// run whose client went away, and its slot is free at once.
async fn until_cancelled(
    cancelled: &CancellationToken,
    work: impl Future<Output = Result<CallToolResult, ApiError>>,
) -> Result<CallToolResult, ApiError> {
    tokio::select! {
        done = work => done,
        () = cancelled.cancelled() => {
            tracing::info!(via = "mcp", "tool call cancelled by the client; its run was stopped");
            Err(ApiError::bad("cancelled", None, "the call was cancelled"))
        }
    }
}

fn shutting_down() -> ApiError {
    ApiError::Overloaded {
        message: "the server is shutting down; the run was stopped before it finished".to_owned(),
        retry_after_secs: 5,
    }
}

/// Anything refused before or instead of a run is a tool error the model
/// reads, not a protocol error: it can fix the call and try again.
fn refusal(e: ApiError) -> CallToolResult {
    let message = match &e {
        ApiError::SessionNotFound { message } => {
            format!("{message}. Sessions expire when unused; call create_session for a new one.")
        }
        ApiError::Overloaded {
            message,
            retry_after_secs,
        }
        | ApiError::TooMany {
            message,
            retry_after_secs,
        } => format!("{message}. Retry in {retry_after_secs} s."),
        other => other.to_string(),
    };
    render::refusal(message)
}
