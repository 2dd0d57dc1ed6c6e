//! The HTTP API: routes, shared state and the tower stack at the edge.

mod admission;
mod auth;
mod edge;
mod error;
mod json_errors;
mod kv;
mod lenient;
mod listener;
mod ops;
mod run;
mod sessions;
mod stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, Uri};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

pub use admission::{Admission, Lanes, Slot};
pub use auth::Caller;
pub use error::ApiError;
pub use listener::{ConnectionLimits, serve};
pub(crate) use run::{Audit, Encoding, FileBody, InFlight, decode_files, record_run};
pub use run::{Policy, RunBody, RunResponse};

use crate::config::Config;
use crate::host::Capabilities;
use crate::runner::Runner;
use crate::sandbox::Sandbox;
use crate::session::Sessions;
use crate::tenant::{RunPermit, Tenant, Tenants};

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    runner: Runner,
    sessions: Sessions,
    admission: Admission,
    tenants: Tenants,
    config: Config,
    metrics: PrometheusHandle,
    ready: AtomicBool,
    /// Cancelled when the shutdown grace period is over: runs still going end as `cancelled`.
    hard_stop: CancellationToken,
    shutdown_started: Mutex<Option<Instant>>,
}

impl AppState {
    pub fn new(
        sandbox: Sandbox,
        capabilities: Capabilities,
        tenants: Tenants,
        config: Config,
        metrics: PrometheusHandle,
    ) -> Self {
        let admission = Admission::new(Lanes {
            concurrency: config.server.concurrency,
            long_runs: config.server.long_runs,
            long_after: Duration::from_millis(config.server.long_after_ms),
            queue: config.server.queue,
            queue_timeout: Duration::from_millis(config.server.queue_timeout_ms),
            kv_concurrency: config.server.kv_concurrency,
        });
        Self(Arc::new(Inner {
            runner: Runner::new(sandbox, capabilities),
            sessions: Sessions::new(config.sessions.clone()),
            admission,
            tenants,
            config,
            metrics,
            ready: AtomicBool::new(false),
            hard_stop: CancellationToken::new(),
            shutdown_started: Mutex::new(None),
        }))
    }

    /// The one run pipeline every route goes through.
    pub fn runner(&self) -> &Runner {
        &self.0.runner
    }

    pub fn sessions(&self) -> &Sessions {
        &self.0.sessions
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.0.runner.sandbox()
    }

    pub fn capabilities(&self) -> &Capabilities {
        self.0.runner.capabilities()
    }

    pub fn admission(&self) -> &Admission {
        &self.0.admission
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn tenants(&self) -> &Tenants {
        &self.0.tenants
    }

    /// A run's way in, for every front end: a place within its tenant's
    /// rate and concurrency limits (refused at once), then a run slot
    /// (waited for), counted in flight until the returned guard drops.
    pub(crate) async fn admit(&self, tenant: &Tenant) -> Result<Admitted, ApiError> {
        let quota = tenant
            .admit()
            .map_err(|e| ApiError::rate_limited(e, tenant.name()))?;
        let slot = self.0.admission.enter().await?;
        Ok(Admitted {
            _quota: quota,
            _slot: slot,
            _in_flight: InFlight::enter(),
        })
    }

    pub fn body_limit(&self) -> usize {
        self.0.config.server.body_limit_bytes
    }

    /// Runtimes are loaded and the pool is started.
    pub fn mark_ready(&self) {
        self.0.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::SeqCst)
    }

    pub fn hard_stop(&self) -> &CancellationToken {
        &self.0.hard_stop
    }

    /// Shutdown began: remember when, for the runs it will cut short.
    pub fn begin_shutdown(&self) {
        self.0.ready.store(false, Ordering::SeqCst);
        let mut started = self
            .0
            .shutdown_started
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        started.get_or_insert_with(Instant::now);
    }

    /// What a run still going at the end of the shutdown grace period gets.
    pub(crate) fn ended_by_shutdown(&self) -> crate::sandbox::RunResult {
        run::ended_by_shutdown(self.started_at_shutdown())
    }

    fn started_at_shutdown(&self) -> Option<Instant> {
        *self
            .0
            .shutdown_started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Held for the whole of an admitted run.
pub(crate) struct Admitted {
    _quota: RunPermit,
    _slot: Slot,
    _in_flight: InFlight,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The router with its middleware; testable with `oneshot`.
pub fn app(state: AppState) -> Router {
    let body_limit = state.body_limit();
    let mut routes = Router::new();
    if state.config().mcp.enabled {
        let mcp = tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn(crate::mcp::normalise))
            .service(crate::mcp::http_service(state.clone()));
        routes = routes.nest_service("/mcp", mcp);
    }
    routes
        .route("/run", post(run::run))
        .route("/sessions", post(sessions::create).get(sessions::list))
        .route("/sessions/{id}", get(sessions::get).delete(sessions::delete))
        .route("/sessions/{id}/run", post(sessions::run_cell))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/runtimes", get(ops::runtimes))
        .route("/metrics", get(ops::metrics))
        .route("/kv/{namespace}", get(kv::list))
        .route("/kv/{namespace}/{key}", get(kv::get).put(kv::put).delete(kv::delete))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        // Inside authentication: an unauthenticated body is never read.
        .layer(axum::middleware::from_fn_with_state(state.clone(), edge::bound))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(json_errors::json_errors))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a handler panicked");
            axum::response::IntoResponse::into_response(ApiError::Internal)
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = id)
                })
                // 503 from /readyz or load shedding is not an error worth
                // shouting about; real failures are logged where they happen.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound {
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
