//! Back-pressure for runs: a semaphore bounds runs in flight, a bounded queue
//! waits behind it, and past the queue requests are shed with 503 and
//! `Retry-After` instead of piling up. A slow or hostile run holds only its
//! own slot.
//!
//! Hand-written on tokio's semaphore rather than tower's `ConcurrencyLimit` +
//! `Buffer` + `LoadShed`: the queue needs a length bound AND a wait bound, and
//! the rejection has to be our JSON error; the three layers give neither
//! directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

pub struct Admission {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    queue_timeout: Duration,
}

/// Decrements the queue depth however the wait ends (a client that hangs up
/// drops the future mid-wait).
struct Waiting<'a>(&'a Admission);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let depth = self.0.waiting.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("goru_queue_depth").set(depth as f64);
    }
}

impl Admission {
    pub fn new(concurrency: usize, queue: usize, queue_timeout: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
            queue_timeout,
        }
    }

    /// A run slot, now or after waiting in the queue; `Overloaded` when the
    /// queue is full or the wait is too long.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let depth = self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = Waiting(self);
        if depth >= self.queue {
            drop(guard);
            metrics::counter!("goru_rejected_total", "reason" => "queue_full").increment(1);
            return Err(ApiError::Overloaded {
                message: format!(
                    "server is saturated: all run slots are busy and the queue of {} is full",
                    self.queue
                ),
                retry_after_secs: 1,
            });
        }
        metrics::gauge!("goru_queue_depth").set((depth + 1) as f64);
        let acquired =
            tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await;
        drop(guard);
        match acquired {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(ApiError::Internal),
            Err(_elapsed) => {
                metrics::counter!("goru_rejected_total", "reason" => "queue_timeout").increment(1);
                Err(ApiError::Overloaded {
                    message: format!(
                        "server is saturated: no run slot came free within {} ms",
                        self.queue_timeout.as_millis()
                    ),
                    retry_after_secs: 2,
                })
            }
        }
    }

    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_queue_requests_are_shed_at_once() {
        let admission = Arc::new(Admission::new(1, 1, Duration::from_secs(5)));
        let held = admission.enter().await.unwrap();
        let queued = {
            let a = admission.clone();
            tokio::spawn(async move { a.enter().await.map(drop) })
        };
        while admission.queue_depth() == 0 {
            tokio::task::yield_now().await;
        }
        let shed = admission.enter().await.unwrap_err();
        assert!(matches!(shed, ApiError::Overloaded { .. }), "{shed:?}");
        drop(held);
        queued.await.unwrap().unwrap();
        assert_eq!(admission.queue_depth(), 0);
    }

    #[tokio::test]
    async fn a_wait_past_the_queue_timeout_is_shed() {
        let admission = Admission::new(1, 10, Duration::from_millis(20));
        let _held = admission.enter().await.unwrap();
        assert!(matches!(
            admission.enter().await,
            Err(ApiError::Overloaded { .. })
        ));
        assert_eq!(admission.queue_depth(), 0);
    }
}
