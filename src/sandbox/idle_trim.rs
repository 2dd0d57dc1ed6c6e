//! Gives the pages of idle memory slots back to the kernel once the engine
//! has been quiet for a while (`[engine] idle_trim_seconds`).
//!
//! Between runs a slot keeps two kinds of pages mapped, so the next run in it
//! takes no page faults:
//! - the pages its runs wrote, reset in place (up to `keep_resident_mb`);
//! - the snapshot pages they read.
//!
//! Under load, that is what makes a run cheap. After the load it is memory
//! nobody uses, and every slot that ever ran holds it. RSS also counts the
//! shared snapshot pages once per slot.
//!
//! So this thread gives all of it back when the pool has been idle for the
//! configured time, and with it the heap memory the allocator keeps free
//! (`malloc_trim`). It calls `Engine::trim_pooling_allocator`, from goru's
//! wasmtime patch `scripts/wasmtime/idle-trim.patch`. The next run in a
//! trimmed slot faults its pages in again and sees the same bytes: the
//! snapshot's.

use std::time::{Duration, Instant};

use wasmtime::EngineWeak;

/// How often the pool's state is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Starts the trim thread for `engine`; it ends with the engine. `after`
/// zero: never trim.
pub fn spawn(engine: EngineWeak, after: Duration) {
    if after.is_zero() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("goru-trim".into())
        .spawn(move || watch(&engine, after));
    if let Err(e) = spawned {
        // Only memory is at stake: slots keep what they hold, as with 0.
        tracing::error!(error = %e, "could not start the idle-trim thread");
    }
}

fn watch(engine: &EngineWeak, after: Duration) {
    let mut last = None;
    let mut quiet_since = Instant::now();
    let mut trimmed = false;
    loop {
        std::thread::sleep(CHECK_EVERY);
        let Some(engine) = engine.upgrade() else {
            return;
        };
        let Some(pool) = engine.pooling_allocator_metrics() else {
            return;
        };
        // A slot taken or given back changes one of these. Steady load may
        // repeat them now and then, but not for a whole `after`.
        let state = (
            pool.core_instances(),
            pool.memories(),
            pool.unused_warm_memories(),
            pool.unused_memory_bytes_resident(),
        );
        if last != Some(state) {
            last = Some(state);
            quiet_since = Instant::now();
            trimmed = false;
            continue;
        }
        if !trimmed && quiet_since.elapsed() >= after {
            let started = Instant::now();
            let bytes = engine.trim_pooling_allocator();
            release_free_heap();
            trimmed = true;
            metrics::counter!("goru_engine_idle_trims_total").increment(1);
            tracing::debug!(
                heap_bytes = bytes,
                ms = started.elapsed().as_secs_f64() * 1e3,
                "gave idle memory slots' pages back"
            );
        }
    }
}

/// Hands the heap memory the allocator holds free back to the kernel. A load
/// grows glibc's per-thread arenas (instance contexts, requests, outputs) and
/// glibc keeps what is freed for reuse; idle, nothing reuses it.
fn release_free_heap() {
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own free lists
    // under glibc's own locks.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}
