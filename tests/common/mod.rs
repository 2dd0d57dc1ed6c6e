//! Shared test helpers: one sandbox per test binary, written once.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;
use std::time::Duration;

use goru::sandbox::{LimitRequest, RunRequest, RunResult, Sandbox, SandboxConfig};

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

pub fn request(language: &str, code: &str) -> RunRequest {
    RunRequest {
        code: code.to_owned(),
        language: Some(language.to_owned()),
        ..RunRequest::default()
    }
}

/// Runs `code` in `python` with default limits.
pub async fn run(code: &str) -> RunResult {
    run_req(request("python", code)).await
}

pub async fn run_req(req: RunRequest) -> RunResult {
    sandbox()
        .run(req)
        .await
        .expect("the run could be attempted")
}

pub fn timeout(ms: u64) -> LimitRequest {
    LimitRequest {
        timeout: Some(Duration::from_millis(ms)),
        ..LimitRequest::default()
    }
}
