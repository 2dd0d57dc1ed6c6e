//! A tenant's rate limits: runs per second with a burst (governor's GCRA),
//! and runs in flight at once. Both refuse at once with how long to wait:
//! a client over its quota is told so, it does not queue.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota as Gcra};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a tenant's run is refused by its own quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("tenant {tenant:?} is over its rate of {rate} runs per second (burst {burst})")]
    Rate {
        tenant: String,
        rate: String,
        burst: u32,
        retry_after: Duration,
    },
    #[error("tenant {tenant:?} already has {max} runs in flight, its limit")]
    Concurrency { tenant: String, max: usize },
}

impl QuotaError {
    /// Whole seconds to wait, at least 1 (the `Retry-After` header).
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::Rate { retry_after, .. } => retry_after.as_secs_f64().ceil().max(1.0) as u64,
            Self::Concurrency { .. } => 1,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Self::Rate { .. } => "tenant_rate",
            Self::Concurrency { .. } => "tenant_concurrency",
        }
    }
}

pub struct Quota {
    rate: Option<(DefaultDirectRateLimiter, f64, u32)>,
    runs: Option<(Arc<Semaphore>, usize)>,
}

impl std::fmt::Debug for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quota")
            .field("runs_per_second", &self.rate.as_ref().map(|r| r.1))
            .field("max_concurrent_runs", &self.runs.as_ref().map(|r| r.1))
            .finish()
    }
}

/// Held for the whole of a run: frees its place among the tenant's runs.
#[derive(Debug)]
pub struct RunPermit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl Quota {
    /// `runs_per_second` 0 = no rate limit; `max_concurrent` 0 = no limit.
    /// `None` when the rate cannot be a GCRA period (checked at start-up).
    pub fn new(runs_per_second: f64, burst: u32, max_concurrent: usize) -> Option<Self> {
        let rate = if runs_per_second > 0.0 {
            let burst = if burst == 0 {
                runs_per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32
            } else {
                burst
            };
            let period = Duration::try_from_secs_f64(1.0 / runs_per_second).ok()?;
            let quota = Gcra::with_period(period)?.allow_burst(NonZeroU32::new(burst)?);
            Some((
                DefaultDirectRateLimiter::direct(quota),
                runs_per_second,
                burst,
            ))
        } else {
            None
        };
        let runs = (max_concurrent > 0)
            .then(|| (Arc::new(Semaphore::new(max_concurrent)), max_concurrent));
        Some(Self { rate, runs })
    }

    pub fn unlimited() -> Self {
        Self {
            rate: None,
            runs: None,
        }
    }

    /// One run's place: its token of the rate, and a place among the
    /// tenant's runs in flight.
    pub fn admit(&self, tenant: &str) -> Result<RunPermit, QuotaError> {
        // The concurrency place first: a run refused for it must not have
        // spent a token of the rate.
        let permit =
            match &self.runs {
                Some((slots, max)) => Some(slots.clone().try_acquire_owned().map_err(|_| {
                    QuotaError::Concurrency {
                        tenant: tenant.to_owned(),
                        max: *max,
                    }
                })?),
                None => None,
            };
        if let Some((limiter, rate, burst)) = &self.rate
            && let Err(not_until) = limiter.check()
        {
            return Err(QuotaError::Rate {
                tenant: tenant.to_owned(),
                rate: format!("{rate}"),
                burst: *burst,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            });
        }
        Ok(RunPermit(permit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let quota = Quota::new(1.0, 2, 0).unwrap();
        assert!(quota.admit("t").is_ok());
        assert!(quota.admit("t").is_ok());
        let err = quota.admit("t").unwrap_err();
        assert!(matches!(err, QuotaError::Rate { .. }), "{err:?}");
        assert_eq!(err.retry_after_secs(), 1);
    }

    #[test]
    fn runs_in_flight_are_counted_until_their_permit_drops() {
        let quota = Quota::new(0.0, 0, 1).unwrap();
        let held = quota.admit("t").unwrap();
        assert!(matches!(
            quota.admit("t"),
            Err(QuotaError::Concurrency { max: 1, .. })
        ));
        drop(held);
        assert!(quota.admit("t").is_ok());
    }

    #[test]
    fn an_impossible_rate_is_refused() {
        assert!(Quota::new(f64::MIN_POSITIVE, 1, 0).is_none());
    }
}
