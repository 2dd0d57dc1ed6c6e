//! A pool of pre-instantiated `python` sandboxes, refilled in the background.
//!
//! Instantiating the snapshot is most of the cost of a short run; the pool
//! does it before the request arrives. Each instance serves exactly one run and
//! is then dropped: the pool never hands out an instance another run touched.

use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use super::Inner;
use super::component::{Prepared, python};
use super::executor::Executor;

/// Drops the refill task with the pool.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct Pool {
    ready: Mutex<mpsc::Receiver<Prepared>>,
    size: usize,
    _refill: AbortOnDrop,
}

impl Pool {
    /// Starts refilling up to `size` instances. The task holds only a weak
    /// reference, so dropping the sandbox ends it.
    pub(super) fn start(executor: &Executor, inner: Weak<Inner>, size: usize) -> Self {
        let size = size.max(1);
        let (tx, rx) = mpsc::channel(size);
        let refill = executor.spawn(refill(inner, tx));
        Self {
            ready: Mutex::new(rx),
            size,
            _refill: AbortOnDrop(refill),
        }
    }

    /// A ready instance, if one is waiting (a hit); `None` is a miss and the
    /// caller instantiates on demand.
    pub fn take(&self) -> Option<Prepared> {
        let taken = self
            .ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_recv()
            .ok();
        let outcome = if taken.is_some() { "hit" } else { "miss" };
        metrics::counter!("goru_pool_takes_total", "language" => python::LANGUAGE, "outcome" => outcome).increment(1);
        metrics::gauge!("goru_pool_ready", "language" => python::LANGUAGE)
            .set(self.ready_now() as f64);
        taken
    }

    /// Instances ready right now.
    pub fn ready_now(&self) -> usize {
        self.ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

async fn refill(inner: Weak<Inner>, tx: mpsc::Sender<Prepared>) {
    loop {
        // Wait for a free slot first, so nothing is instantiated that has
        // nowhere to go.
        let Ok(slot) = tx.reserve().await else {
            return;
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Some(python) = inner.python.get() else {
            return;
        };
        let limits = inner.config.limits.ceiling;
        match python.prepare(&limits).await {
            Ok(prepared) => {
                slot.send(prepared);
                metrics::gauge!("goru_pool_ready", "language" => python::LANGUAGE)
                    .set((tx.max_capacity() - tx.capacity()) as f64);
            }
            Err(e) => {
                tracing::error!(error = %e, "could not pre-instantiate a python sandbox; retrying");
                drop(inner);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
