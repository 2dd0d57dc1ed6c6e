//! Back-pressure for runs, in two lanes.
//!
//! Every run starts in the **start lane**: `concurrency` slots (about the
//! cores), with a queue in front. A run still going after `long_after` moves
//! to the **long lane** (`long_runs` places, sized by memory) and gives its
//! start slot to the next run in the queue. So a short run never waits
//! behind long ones — they share the CPU (guests yield at every epoch tick)
//! while short runs keep flowing through the start lane — and a flood of
//! short runs still has only `concurrency` instances working at once. When
//! the long lane is full, a long run keeps its start slot.
//!
//! The queue sheds by expected wait, not by a short fixed length: a request
//! is refused (503 + `Retry-After`) when the queue ahead of it would take
//! longer than `queue_timeout` to drain at the rate start slots have been
//! freeing up, or when the queue is at its hard length bound. A request that
//! waits anyway past `queue_timeout` is refused then.
//!
//! Hand-written on tokio's semaphore rather than tower's `ConcurrencyLimit` +
//! `Buffer` + `LoadShed`: none of them moves a request between lanes, sheds
//! by expected wait, or answers our JSON error.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::error::ApiError;

/// Two-lane admission; see the module documentation.
pub struct Admission {
    start: Arc<Semaphore>,
    concurrency: usize,
    long: Option<Arc<Semaphore>>,
    long_after: Duration,
    waiting: AtomicUsize,
    queue: usize,
    queue_timeout: Duration,
    /// Moving average of how long a run holds its start slot, in µs.
    hold_us: Arc<AtomicU64>,
    /// `/kv` requests at once: brief, so apart from runs' slots.
    kv: Arc<Semaphore>,
}

/// How admission is configured.
#[derive(Debug, Clone, Copy)]
pub struct Lanes {
    /// Start slots: runs in their first `long_after`.
    pub concurrency: usize,
    /// Places for runs past `long_after`; 0 = runs keep their start slot.
    pub long_runs: usize,
    pub long_after: Duration,
    /// Hard bound on requests waiting for a start slot.
    pub queue: usize,
    /// Longest wait (expected, then actual) for a start slot.
    pub queue_timeout: Duration,
    /// `/kv` requests handled at once.
    pub kv_concurrency: usize,
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

/// Which lane a run holds a place in.
/// The permits are held for their drop: that frees the place.
enum Held {
    Start {
        _permit: OwnedSemaphorePermit,
        since: Instant,
    },
    Long {
        _place: OwnedSemaphorePermit,
    },
}

/// A run's place; dropping it frees the place (and stops the move to the
/// long lane if it has not happened yet).
pub struct Slot {
    held: Arc<Mutex<Option<Held>>>,
    hold_us: Arc<AtomicU64>,
    mover: Option<JoinHandle<()>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(mover) = self.mover.take() {
            mover.abort();
        }
        let held = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Held::Start { since, .. }) = held {
            record_hold(&self.hold_us, since.elapsed());
        }
    }
}

/// An exponentially weighted moving average (weight 1/8) of start-slot
/// holding times: what the next freed slot is expected to take.
fn record_hold(hold_us: &AtomicU64, held: Duration) {
    let sample = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
    let _ = hold_us.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        })
    });
}

impl Admission {
    pub fn new(lanes: Lanes) -> Self {
        let concurrency = lanes.concurrency.max(1);
        Self {
            start: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            long: (lanes.long_runs > 0).then(|| Arc::new(Semaphore::new(lanes.long_runs))),
            long_after: lanes.long_after,
            waiting: AtomicUsize::new(0),
            queue: lanes.queue,
            queue_timeout: lanes.queue_timeout,
            hold_us: Arc::new(AtomicU64::new(0)),
            kv: Arc::new(Semaphore::new(lanes.kv_concurrency.max(1))),
        }
    }

    /// A place for one `/kv` request, waiting at most the queue timeout.
    pub async fn enter_kv(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(self.queue_timeout, self.kv.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(ApiError::Internal),
            Err(_elapsed) => {
                metrics::counter!("goru_rejected_total", "reason" => "kv_busy").increment(1);
                Err(ApiError::Overloaded {
                    message: format!(
                        "server is saturated: no KV request place came free within {} ms",
                        self.queue_timeout.as_millis()
                    ),
                    retry_after_secs: 1,
                })
            }
        }
    }

    /// A run's place, now or after waiting in the queue; `Overloaded` when
    /// the wait would be (or became) too long.
    pub async fn enter(&self) -> Result<Slot, ApiError> {
        let permit = match self.start.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => self.wait().await?,
        };
        Ok(self.hold(permit))
    }

    /// How long the `ahead` requests queued before a newcomer are expected
    /// to take to get their slots.
    fn expected_wait(&self, ahead: usize) -> Duration {
        let per_slot = Duration::from_micros(self.hold_us.load(Ordering::Relaxed));
        per_slot.saturating_mul(u32::try_from(ahead + 1).unwrap_or(u32::MAX))
            / u32::try_from(self.concurrency).unwrap_or(u32::MAX)
    }

    async fn wait(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = Waiting(self);
        if ahead >= self.queue {
            drop(guard);
            metrics::counter!("goru_rejected_total", "reason" => "queue_full").increment(1);
            return Err(ApiError::Overloaded {
                message: format!(
                    "server is saturated: all run slots are busy and {} requests are queued, the \
                     most it holds",
                    self.queue
                ),
                retry_after_secs: 1,
            });
        }
        let expected = self.expected_wait(ahead);
        if expected > self.queue_timeout {
            drop(guard);
            metrics::counter!("goru_rejected_total", "reason" => "expected_wait").increment(1);
            return Err(ApiError::Overloaded {
                message: format!(
                    "server is saturated: the {ahead} queued requests are expected to take {} ms \
                     to start, past the bound of {} ms",
                    expected.as_millis(),
                    self.queue_timeout.as_millis()
                ),
                retry_after_secs: expected.as_secs().clamp(1, 60),
            });
        }
        metrics::gauge!("goru_queue_depth").set((ahead + 1) as f64);
        let acquired =
            tokio::time::timeout(self.queue_timeout, self.start.clone().acquire_owned()).await;
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

    /// Holds a start slot, and moves the run to the long lane once it has
    /// had it for `long_after`.
    fn hold(&self, permit: OwnedSemaphorePermit) -> Slot {
        let held = Arc::new(Mutex::new(Some(Held::Start {
            _permit: permit,
            since: Instant::now(),
        })));
        let mover = self.long.clone().map(|long| {
            let held = held.clone();
            let hold_us = self.hold_us.clone();
            let after = self.long_after;
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                // Waits for a long place, keeping the start slot meanwhile.
                let Ok(place) = long.acquire_owned().await else {
                    return;
                };
                let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(Held::Start { since, .. }) = held.as_ref() {
                    record_hold(&hold_us, since.elapsed());
                    metrics::counter!("goru_runs_moved_long_total").increment(1);
                    *held = Some(Held::Long { _place: place });
                }
            })
        });
        Slot {
            held,
            hold_us: self.hold_us.clone(),
            mover,
        }
    }

    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(concurrency: usize, long_runs: usize, queue: usize, timeout_ms: u64) -> Lanes {
        Lanes {
            concurrency,
            long_runs,
            long_after: Duration::from_millis(50),
            queue,
            queue_timeout: Duration::from_millis(timeout_ms),
            kv_concurrency: 2,
        }
    }

    #[tokio::test]
    async fn past_the_queue_requests_are_shed_at_once() {
        let admission = Arc::new(Admission::new(lanes(1, 0, 1, 5000)));
        let held = admission.enter().await.unwrap();
        let queued = {
            let a = admission.clone();
            tokio::spawn(async move { a.enter().await.map(drop) })
        };
        while admission.queue_depth() == 0 {
            tokio::task::yield_now().await;
        }
        let shed = admission.enter().await.err().unwrap();
        assert!(matches!(shed, ApiError::Overloaded { .. }), "{shed:?}");
        drop(held);
        queued.await.unwrap().unwrap();
        assert_eq!(admission.queue_depth(), 0);
    }

    #[tokio::test]
    async fn a_wait_past_the_queue_timeout_is_shed() {
        let admission = Admission::new(lanes(1, 0, 10, 20));
        let _held = admission.enter().await.unwrap();
        assert!(matches!(
            admission.enter().await,
            Err(ApiError::Overloaded { .. })
        ));
        assert_eq!(admission.queue_depth(), 0);
    }

    #[tokio::test]
    async fn a_long_run_gives_its_start_slot_to_the_next() {
        let admission = Admission::new(lanes(1, 4, 10, 5000));
        let _long = admission.enter().await.unwrap();
        let started = Instant::now();
        let _next = admission.enter().await.unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(40) && waited < Duration::from_millis(1000),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn with_the_long_lane_full_a_long_run_keeps_its_slot() {
        let admission = Admission::new(lanes(1, 1, 10, 300));
        let _first = admission.enter().await.unwrap();
        // The first moves to the long lane; the second takes its start slot
        // and, past 50 ms, finds the long lane full.
        let _second = admission.enter().await.unwrap();
        assert!(admission.enter().await.is_err(), "nobody frees a slot");
    }

    #[tokio::test]
    async fn the_queue_sheds_by_expected_wait() {
        let admission = Arc::new(Admission::new(lanes(1, 0, 1000, 100)));
        // Runs have been holding slots for 60 ms each.
        record_hold(&admission.hold_us, Duration::from_millis(60));
        let _held = admission.enter().await.unwrap();
        // One queued: 60 ms expected, within the bound; it waits.
        let queued = {
            let a = admission.clone();
            tokio::spawn(async move { a.enter().await.map(drop) })
        };
        while admission.queue_depth() == 0 {
            tokio::task::yield_now().await;
        }
        // The next would wait 120 ms: shed at once, saying why.
        let started = Instant::now();
        let shed = admission.enter().await.err().unwrap();
        assert!(started.elapsed() < Duration::from_millis(50));
        assert!(shed.to_string().contains("expected"), "{shed}");
        queued.abort();
    }
}
