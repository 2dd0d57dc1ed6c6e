//! Shared test helpers: one sandbox per test binary, written once.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use goru::host::Capabilities;
use goru::runner::{RunSpec, Runner};
use goru::sandbox::{LimitRequest, RunResult, Sandbox, SandboxConfig};

/// Compiled guests are cached here across test binaries and runs.
pub fn test_cache_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("goru-cache")
}

/// The process-wide sandbox (real engine, real guests, shared disk cache).
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        Sandbox::new(SandboxConfig {
            cache_dir: Some(test_cache_dir()),
            ..SandboxConfig::default()
        })
        .expect("sandbox")
    })
}

/// The run pipeline over [`sandbox`], with default capabilities.
pub fn runner() -> Runner {
    Runner::new(sandbox().clone(), Capabilities::default())
}

pub fn request(language: &str, code: &str) -> RunSpec {
    RunSpec {
        code: code.to_owned(),
        language: Some(language.to_owned()),
        ..RunSpec::default()
    }
}

/// Runs `code` in `python` with default limits.
pub async fn run(code: &str) -> RunResult {
    run_req(request("python", code)).await
}

pub async fn run_req(req: RunSpec) -> RunResult {
    runner().run(req).await.expect("the run could be attempted")
}

pub fn timeout(ms: u64) -> LimitRequest {
    LimitRequest {
        timeout: Some(Duration::from_millis(ms)),
        ..LimitRequest::default()
    }
}

/// A real `goru serve` on 127.0.0.1:0 with a client for it.
pub struct TestServer {
    pub server: goru::server::Server,
    pub client: reqwest::Client,
    pub base: String,
}

/// Test configuration: loopback port 0, the shared compiled-guest cache.
pub fn server_config() -> goru::config::Config {
    let mut config = goru::config::Config::load(None, Vec::new()).expect("defaults");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.cache_dir = test_cache_dir();
    config.server.concurrency = 4;
    config.server.pool_size = 2;
    config
}

/// Starts a server with `config` and waits until `/readyz` says ready.
pub async fn start_server(config: goru::config::Config) -> TestServer {
    start_server_with(config, goru::host::Registry::new()).await
}

pub async fn start_server_with(
    config: goru::config::Config,
    registry: goru::host::Registry,
) -> TestServer {
    // Precompiling (python-sci's snapshot on a fresh clone) takes minutes
    // on a loaded machine.
    let patience = Duration::from_secs(if config.server.precompile.is_empty() {
        180
    } else {
        1200
    });
    warm_cache().await;
    let server = goru::server::start(config, registry)
        .await
        .expect("server starts");
    wait_ready(server, patience).await
}

/// Fills the shared compiled-guest cache once per test process, before the
/// first server starts. Each server has its own engine and precompiles every
/// runtime at start; on a fresh clone, servers starting side by side would
/// each compile every guest (python-sci's snapshot alone takes minutes)
/// before the first of them had written the cache.
pub async fn warm_cache() {
    static WARM: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    WARM.get_or_init(|| async {
        let all: Vec<&str> = goru::sandbox::RUNTIMES.iter().map(|(l, _)| *l).collect();
        sandbox()
            .precompile(&all)
            .await
            .expect("every runtime compiles");
    })
    .await;
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` as JSON to /run.
    pub async fn run(&self, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/run"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// POSTs `body` as JSON to `path`; the status and the JSON answer.
    pub async fn post_value(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let (status, value, _) = self.post_json(path, body).await;
        (status, value)
    }

    /// As [`TestServer::post_value`], with the answer's headers.
    pub async fn post_json(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.json().await.unwrap(), headers)
    }

    /// GETs `path` and returns its JSON body, whatever the status.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        get(&self.client, self.url(path)).await
    }

    /// GETs `path` and returns its body as text, whatever the status.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// Starts a POST /run in the background; the handle gives its JSON body.
    pub fn spawn_run(&self, body: serde_json::Value) -> tokio::task::JoinHandle<serde_json::Value> {
        let request = self.client.post(self.url("/run")).json(&body);
        tokio::spawn(async move { request.send().await.unwrap().json().await.unwrap() })
    }

    /// POSTs to /run and returns the 200 body.
    pub async fn run_ok(&self, body: serde_json::Value) -> serde_json::Value {
        let response = self.run(body).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Starts a server reading secrets from `env` instead of the process environment.
pub async fn start_server_env(
    config: goru::config::Config,
    registry: goru::host::Registry,
    env: std::collections::BTreeMap<String, String>,
) -> TestServer {
    warm_cache().await;
    let server = goru::server::start_with_env(config, registry, env)
        .await
        .expect("server starts");
    wait_ready(server, Duration::from_secs(180)).await
}

async fn wait_ready(server: goru::server::Server, patience: Duration) -> TestServer {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{}", server.addr);
    let deadline = std::time::Instant::now() + patience;
    loop {
        let ready = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status().is_success());
        if matches!(ready, Ok(true)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    TestServer {
        server,
        client,
        base,
    }
}

/// A local HTTP server for the guest to reach (on 127.0.0.1:0), serving `router`.
pub async fn local_http(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Checks `body` against the schema openapi.yaml gives for this response.
pub fn assert_matches_spec(path: &str, method: &str, status: u16, body: &serde_json::Value) {
    let spec: serde_json::Value =
        serde_norway::from_str(include_str!("../../openapi.yaml")).unwrap();
    let mut response = &spec["paths"][path][method]["responses"][status.to_string()];
    assert!(
        !response.is_null(),
        "openapi.yaml has no {status} for {method} {path}"
    );
    // A shared response: `#/components/responses/<name>`.
    if let Some(name) = response["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/responses/"))
    {
        response = &spec["components"]["responses"][name];
    }
    assert_matches_schema(
        &spec,
        &response["content"]["application/json"]["schema"]["$ref"],
        body,
    );
}

/// Checks `body` against `#/components/schemas/...` named by `reference`.
pub fn assert_matches_schema(
    spec: &serde_json::Value,
    reference: &serde_json::Value,
    body: &serde_json::Value,
) {
    let schema = serde_json::json!({"$ref": reference, "components": spec["components"]});
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{reference} does not match openapi.yaml: {errors:?}\n{body}"
    );
}

/// POSTs `body` as JSON to `url`; the answer's JSON, whatever the status.
pub async fn post(
    client: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> serde_json::Value {
    client
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// GETs `url`; the answer's JSON, whatever the status.
pub async fn get(client: &reqwest::Client, url: String) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}
