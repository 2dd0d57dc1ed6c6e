//! Per-run limits: what a caller may ask for, the defaults, the hard ceilings,
//! and the `ResourceLimiter` that enforces the memory limit inside a store.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::LimitError;

const MIB: u64 = 1024 * 1024;

/// The least memory limit a run may have: `python`'s snapshot starts at
/// about 20 MiB, and a limit below what an instance starts in would fail
/// it (or not, for one taken ready from the pool).
pub const MIN_MEMORY_MB: u64 = 32;

/// Limits for one run. Every field is optional in requests; [`Limits::resolve`]
/// fills defaults and checks ceilings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock budget; the run stops at this deadline even inside a host call.
    pub timeout: Duration,
    /// Linear memory, summed over every memory of the instance.
    pub memory_bytes: u64,
    /// CPU budget in wasmtime fuel units (about one per wasm instruction); `None` = unmetered.
    pub fuel: Option<u64>,
    /// Bytes kept of stdout and of stderr each; the rest is dropped and flagged.
    pub max_output_bytes: u64,
    /// Largest stdin content accepted.
    pub max_stdin_bytes: u64,
}

/// What a caller asked for; `None` means "the default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitRequest {
    pub timeout: Option<Duration>,
    pub memory_bytes: Option<u64>,
    pub fuel: Option<u64>,
    pub max_output_bytes: Option<u64>,
}

/// Defaults and ceilings, owned by whoever configures the sandbox (CLI flags or
/// the server's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitPolicy {
    pub default: Limits,
    pub ceiling: Limits,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        Self {
            default: Limits {
                timeout: Duration::from_secs(5),
                memory_bytes: 256 * MIB,
                fuel: None,
                max_output_bytes: MIB,
                max_stdin_bytes: MIB,
            },
            ceiling: Limits {
                timeout: Duration::from_secs(60),
                memory_bytes: 2048 * MIB,
                fuel: Some(u64::MAX / 2),
                max_output_bytes: 16 * MIB,
                max_stdin_bytes: 16 * MIB,
            },
        }
    }
}

impl LimitPolicy {
    /// Fills defaults and rejects anything above a ceiling, naming the limit.
    pub fn resolve(&self, req: &LimitRequest) -> Result<Limits, LimitError> {
        let d = &self.default;
        let c = &self.ceiling;
        let timeout = req.timeout.unwrap_or(d.timeout);
        if timeout.is_zero() || timeout > c.timeout {
            return Err(LimitError::out_of_range(
                "timeout_ms",
                timeout.as_millis() as u64,
                c.timeout.as_millis() as u64,
            ));
        }
        let memory_bytes = req.memory_bytes.unwrap_or(d.memory_bytes);
        if memory_bytes < MIN_MEMORY_MB * MIB || memory_bytes > c.memory_bytes {
            return Err(LimitError::Range {
                field: "memory_mb",
                value: memory_bytes / MIB,
                min: MIN_MEMORY_MB,
                max: c.memory_bytes / MIB,
            });
        }
        let fuel = req.fuel.or(d.fuel);
        if let (Some(f), Some(max)) = (fuel, c.fuel)
            && (f == 0 || f > max)
        {
            return Err(LimitError::out_of_range("fuel", f, max));
        }
        let max_output_bytes = req.max_output_bytes.unwrap_or(d.max_output_bytes);
        if max_output_bytes > c.max_output_bytes {
            return Err(LimitError::out_of_range(
                "max_output_bytes",
                max_output_bytes,
                c.max_output_bytes,
            ));
        }
        Ok(Limits {
            timeout,
            memory_bytes,
            fuel,
            max_output_bytes,
            max_stdin_bytes: d.max_stdin_bytes.min(c.max_stdin_bytes),
        })
    }
}

/// Enforces the memory limit across all linear memories of one store and
/// remembers the peak and whether the limit was hit (to report `memory_limit`).
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    in_use: usize,
    peak: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            in_use: 0,
            peak: 0,
            hit: false,
        }
    }

    /// Sets the limit for a run taking over a pre-instantiated sandbox; the
    /// snapshot's initial heap already counts.
    pub fn set_max(&mut self, max_bytes: u64) {
        self.max_bytes = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        self.hit = false;
    }

    /// Linear memory the store holds now.
    pub fn in_use_bytes(&self) -> u64 {
        self.in_use as u64
    }

    pub fn peak_bytes(&self) -> u64 {
        self.peak as u64
    }

    pub fn limit_hit(&self) -> bool {
        self.hit
    }
}

/// Tables hold function references; CPython's stays far below this. The cap
/// only stops a guest from growing a table without bound.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Called with current == 0 when a memory is first created, so the
        // snapshot's initial heap counts too.
        let next = self.in_use.saturating_add(desired.saturating_sub(current));
        if next > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        self.in_use = next;
        self.peak = self.peak.max(next);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_the_defaults() {
        let policy = LimitPolicy::default();
        let limits = policy.resolve(&LimitRequest::default()).unwrap();
        assert_eq!(limits, policy.default);
    }

    #[test]
    fn a_timeout_above_the_ceiling_names_the_field_and_the_ceiling() {
        let policy = LimitPolicy::default();
        let err = policy
            .resolve(&LimitRequest {
                timeout: Some(Duration::from_secs(61)),
                ..Default::default()
            })
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("timeout_ms") && text.contains("60000"),
            "{text}"
        );
    }

    #[test]
    fn memory_below_the_floor_is_refused() {
        let err = LimitPolicy::default()
            .resolve(&LimitRequest {
                memory_bytes: Some(MIB),
                ..Default::default()
            })
            .unwrap_err();
        assert!(err.to_string().contains("memory_mb"));
    }

    #[test]
    fn limiter_counts_all_memories_and_refuses_growth_past_the_limit() {
        use wasmtime::ResourceLimiter;
        let mut limiter = MemoryLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert!(!limiter.memory_growing(60, 80, None).unwrap());
        assert!(limiter.limit_hit());
        assert_eq!(limiter.peak_bytes(), 90);
    }
}
