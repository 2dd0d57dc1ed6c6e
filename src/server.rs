//! `goru serve`: bind, warm up, serve, shut down gracefully.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, ConnectionLimits, app};
use crate::config::{Config, LogFormat};
use crate::host::Registry;
use crate::sandbox::Sandbox;
use crate::tenant::Tenants;

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

/// The process-wide Prometheus recorder (a process has one metrics recorder,
/// however many servers a test starts).
fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    // Held while installing: two servers starting at once must not both try.
    let mut slot = HANDLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let buckets = [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        60.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("goru_run_duration_seconds".into()), &buckets)
        .context("configuring metric buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    *slot = Some(handle.clone());
    Ok(handle)
}

/// Binds `config.listen`, starts loading runtimes and filling the pool in the
/// background (`/readyz` says when done), and serves until shut down.
pub async fn start(config: Config, registry: Registry) -> anyhow::Result<Server> {
    start_with_env(config, registry, std::env::vars().collect()).await
}

/// [`start`], reading secrets (`http.secrets[].value_env`) from `env`.
pub async fn start_with_env(
    config: Config,
    registry: Registry,
    env: BTreeMap<String, String>,
) -> anyhow::Result<Server> {
    let listen = config.listen;
    let state = state(config, registry, &env, Front::Http)?;
    state
        .tenants()
        .check_listen(listen)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;

    tokio::spawn(warm_up(state.clone()));

    let stop = CancellationToken::new();
    tokio::spawn(sweep_kv(state.capabilities().kv.clone(), stop.clone()));
    let graceful = {
        let stop = stop.clone();
        let state = state.clone();
        async move {
            stop.cancelled().await;
            state.begin_shutdown();
            let grace = Duration::from_millis(state.config().server.shutdown_grace_ms);
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "shutting down: no new connections; in-flight runs may finish"
            );
            let hard_stop = state.hard_stop().clone();
            let sessions = state.sessions().clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                hard_stop.cancel();
                sessions.close_all();
            });
        }
    };
    let router = app(state.clone());
    let limits = ConnectionLimits {
        header_timeout: Duration::from_millis(state.config().server.header_timeout_ms),
        max_connections: state.config().server.max_connections,
    };
    let task = tokio::spawn(crate::api::serve(listener, router, limits, graceful));
    tracing::info!(%addr, "goru listening");
    Ok(Server {
        addr,
        state,
        stop,
        task,
    })
}

/// How often expired KV entries in namespaces nobody writes to are reclaimed.
const KV_SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Reclaims expired KV entries and empty namespaces until `stop`.
async fn sweep_kv(kv: std::sync::Arc<dyn crate::host::kv::KvStore>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(KV_SWEEP_EVERY) => {}
        }
        let kv = kv.clone();
        // Off the async workers: it visits every namespace.
        let _ = tokio::task::spawn_blocking(move || kv.sweep()).await;
    }
}

/// The service's state: sandbox engine, capabilities, admission, sessions.
/// What the state serves: the HTTP API (tenants, keys), or MCP on stdio
/// (the operator's own process: no keys to read).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Front {
    Http,
    Stdio,
}

fn state(
    config: Config,
    registry: Registry,
    env: &BTreeMap<String, String>,
    front: Front,
) -> anyhow::Result<AppState> {
    let metrics = metrics_handle()?;
    let sandbox = Sandbox::new(config.sandbox_config()).context("creating the sandbox engine")?;
    // Which reset really runs (`scan` falls back to `copy` on old kernels):
    // benchmarks and operators read it here instead of guessing from config.
    let reset = sandbox.reset_strategy();
    let keep_resident_mb = config.engine.keep_resident_mb;
    tracing::info!(
        reset = reset.as_str(),
        keep_resident_mb,
        "engine slot reset"
    );
    metrics::gauge!(
        "goru_engine_reset",
        "strategy" => reset.as_str(),
        "keep_resident_mb" => keep_resident_mb.to_string()
    )
    .set(1.0);
    let capabilities = config
        .capabilities(registry, env)
        .context("configuring host capabilities")?;
    // A grant the MCP policy cannot get (an unknown function or mount, a bad
    // host pattern) fails start-up, not every MCP call after admission.
    let (_, mcp_grants) = config.mcp.policy.to_policy().split();
    if let Err(e) = capabilities.grant(mcp_grants, std::time::Instant::now()) {
        anyhow::bail!(
            "invalid configuration: mcp.policy.{}: {}",
            e.field,
            e.message
        );
    }
    let tenants = match front {
        Front::Http => Tenants::from_config(&config, env)
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?,
        Front::Stdio => Tenants::operator_only(&config),
    };
    for (name, tenant) in &config.tenants {
        if let Some(unknown) = tenant
            .functions
            .iter()
            .find(|f| !capabilities.registry.names().any(|n| n == f.as_str()))
        {
            anyhow::bail!(
                "invalid configuration: tenants.{name}.functions: {unknown:?} is not a configured \
                 function ([functions.<name>])"
            );
        }
    }
    Ok(AppState::new(
        sandbox,
        capabilities,
        tenants,
        config,
        metrics,
    ))
}

/// `goru mcp`: the same service state as `goru serve`, speaking MCP on
/// stdin/stdout until the client closes it. Logs go to stderr.
pub async fn mcp_stdio(config: Config) -> anyhow::Result<()> {
    // Runs as the operator's own process: the `local` tenant, whatever
    // tenants the HTTP service has.
    let state = state(
        config,
        Registry::new(),
        &std::env::vars().collect(),
        Front::Stdio,
    )?;
    tokio::spawn(warm_up(state.clone()));
    let stop = CancellationToken::new();
    tokio::spawn(sweep_kv(state.capabilities().kv.clone(), stop.clone()));
    let served = crate::mcp::serve_stdio(state.clone()).await;
    stop.cancel();
    served?;
    state.begin_shutdown();
    state.sessions().close_all();
    Ok(())
}

/// Loads the configured runtimes (compile or disk cache), then fills the pool.
async fn warm_up(state: AppState) {
    let config = state.config().clone();
    let languages: Vec<&str> = config
        .server
        .precompile
        .iter()
        .map(String::as_str)
        .collect();
    match state.sandbox().precompile(&languages).await {
        Ok(report) => {
            for (language, outcome) in report {
                tracing::info!(language, cache = ?outcome, "runtime loaded");
            }
        }
        Err(e) => {
            tracing::error!(error = ?e, "could not load the runtimes; /readyz stays unready");
            return;
        }
    }
    if config.server.pool_size > 0
        && let Err(e) = state.sandbox().start_pool(config.server.pool_size).await
    {
        tracing::error!(error = ?e, "could not start the sandbox pool");
        return;
    }
    state.mark_ready();
}

impl Server {
    /// Stops accepting connections; in-flight runs get the grace period.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task
            .await
            .context("the server task failed")?
            .context("serving")
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn termination_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Sets up logging as configured.
pub fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("invalid log.level {:?}", config.log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result
        .map_err(|e| anyhow::anyhow!(e))
        .context("installing the log subscriber")
}

/// `goru serve`: runs until SIGINT/SIGTERM, then shuts down gracefully.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let grace = Duration::from_millis(config.server.shutdown_grace_ms);
    let server = start(config, Registry::new()).await?;
    termination_signal().await;
    server.shutdown();
    // Connections that outlive the grace period by far (a stuck client) do not
    // keep the process alive.
    let waited = tokio::time::timeout(grace + Duration::from_secs(5), server.wait()).await;
    match waited {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("connections still open after the grace period; exiting anyway");
            Ok(())
        }
    }
}
