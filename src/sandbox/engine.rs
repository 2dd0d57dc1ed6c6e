//! The one wasmtime `Engine` of the process and its one epoch ticker.

use std::time::Duration;

use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::SandboxError;

/// How often the epoch advances. A run's deadline is checked at every tick,
/// so a timeout overshoots by at most this much; it is also how often a
/// CPU-bound guest yields to the async runtime.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Sizing of the pooling allocator. The pool reserves virtual address space
/// for `instances` slots up front; only touched pages cost memory.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Instances that may exist at once (runs in flight plus pooled ones).
    pub instances: u32,
    /// Largest linear memory any run may get (the memory ceiling).
    pub max_memory_bytes: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            instances: 64,
            max_memory_bytes: 2 << 30,
        }
    }
}

/// Builds the engine: pooling allocator with copy-on-write memory images,
/// epoch interruption (driven by [`spawn_ticker`]) and fuel metering.
pub fn build(options: EngineOptions) -> Result<Engine, SandboxError> {
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
        // Keep the first pages of each freed slot mapped: the next instance in
        // that slot reuses them instead of faulting them in again.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(1 << 16);

    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .epoch_interruption(true)
        .consume_fuel(true)
        .wasm_component_model(true)
        .max_wasm_stack(1 << 20)
        .async_stack_size(2 << 20);
    Engine::new(&config).map_err(SandboxError::wasmtime("creating the engine"))
}

/// Starts THE ticker for `engine`: one thread per engine, never one per run
/// (a per-run ticker on a shared engine makes concurrent runs time each other
/// out). The thread ends when the engine is dropped.
pub fn spawn_ticker(engine: EngineWeak) {
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
