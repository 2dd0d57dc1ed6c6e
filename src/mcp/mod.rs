//! goru as an MCP server: the code-execution tools an agent's model calls.
//!
//! Two transports, one server: streamable HTTP at `/mcp` on the API's
//! listener (behind the same middleware, admission and limits as `/run`),
//! and stdio for `goru mcp`, which desktop agents spawn. Both use the
//! official Rust SDK (rmcp).
//!
//! State between calls lives in explicit sessions (`create_session`, then
//! `session_id` on `run_code`), not in the MCP connection: the 2026-07-28
//! protocol has no transport sessions, HTTP requests are served statelessly,
//! and an id the model holds survives a client reconnecting.

mod config;
mod edge;
mod render;
mod server;
mod tools;

use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use config::{McpConfig, McpPolicy};
pub use edge::normalise;
pub use server::GoruMcp;

use crate::api::AppState;

/// The `/mcp` endpoint: stateless streamable HTTP answering JSON, with the
/// API's body limit and the configured `Host` allow-list.
pub fn http_service(state: AppState) -> StreamableHttpService<GoruMcp, NeverSessionManager> {
    let mcp = &state.config().mcp;
    // rmcp keeps its own cancellation token: the server's hard stop ends the
    // runs, and their calls still answer (a tool error) before connections
    // close. Origin is checked as the MCP spec asks: a request carrying one
    // is answered only when it is listed (none by default: browsers out).
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(mcp.allowed_hosts.clone())
        .with_allowed_origins(mcp.allowed_origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(state.body_limit());
    let router = GoruMcp::router();
    StreamableHttpService::new(
        move || Ok(GoruMcp::for_http(state.clone(), router.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

/// Serves MCP on stdin/stdout until the client closes the stream.
pub async fn serve_stdio(state: AppState) -> anyhow::Result<()> {
    // A message is at most the HTTP body limit here too (rmcp's default
    // line cap is 16 MiB).
    let (stdin, stdout) = rmcp::transport::stdio();
    let transport =
        AsyncRwTransport::new_server(stdin, stdout).with_max_line_length(state.body_limit());
    let running = GoruMcp::stdio(state)
        .serve(transport)
        .await
        .map_err(|e| anyhow::anyhow!("MCP start-up over stdio failed: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("the MCP stdio server failed: {e}"))?;
    Ok(())
}
