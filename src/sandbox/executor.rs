//! The runtime guests execute on, apart from the caller's.
//!
//! A CPU-bound guest yields to its executor at every epoch tick, but tokio
//! polls I/O only between batches of task polls; on a runtime shared with the
//! HTTP server, a few busy guests delayed `/healthz` by over a second. Giving
//! guests their own runtime keeps the server's accept loop and I/O untouched.

use std::future::Future;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

use crate::error::SandboxError;

pub struct Executor {
    runtime: Option<Runtime>,
}

impl Executor {
    pub fn new() -> Result<Self, SandboxError> {
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("goru-sandbox")
            .enable_all()
            .build()
            .map_err(|e| SandboxError::Executor(e.to_string()))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> Option<&Handle> {
        self.runtime.as_ref().map(Runtime::handle)
    }

    pub fn spawn<F>(&self, future: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self.handle() {
            Some(handle) => handle.spawn(future),
            None => tokio::spawn(future),
        }
    }

    /// Runs `future` on the executor; dropping the returned future aborts it.
    pub async fn run<F, T>(&self, future: F) -> Result<T, SandboxError>
    where
        F: Future<Output = Result<T, SandboxError>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(handle) = self.handle() else {
            return future.await;
        };
        let mut task = AbortOnDrop(handle.spawn(future));
        match (&mut task.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(SandboxError::Executor(e.to_string())),
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime; the
        // sandbox may well be dropped from async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Aborts the task when the awaiting side goes away (a client hung up).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
