//! The sandbox engine: one wasmtime engine, the guest runtimes, and `run`.
//!
//! Every run gets a fresh store and a fresh instance; nothing one run touched
//! is ever seen by another.

mod cache;
mod component;
mod dirs;
mod engine;
mod executor;
mod idle_trim;
mod limits;
mod outcome;
mod output;
mod pool;
mod python312;
mod python_sci;
mod quota_fs;
mod quota_p1;
mod reason;
mod run;
mod run_root;
mod runtime;
mod stdin;
mod stdio_door;
mod workdir;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::OnceCell;
use wasmtime::Engine;

pub use cache::{ArtifactKind, CacheOutcome, Compiled, DiskCache};
pub use dirs::{Dirs, Preopen};
pub use engine::{EPOCH_TICK, EngineOptions, IDLE_TRIM, KEEP_RESIDENT_MEMORY, ResetStrategy};
pub use limits::{LimitPolicy, LimitRequest, Limits, MIN_MEMORY_MB};
pub use outcome::{Display, GuestError, Image, RunResult, Status, Truncated, cut_str};
pub use output::{OutputBuffer, OutputChunk, OutputSink, StreamName};
pub use quota_fs::{FsQuota, Origin};
pub use reason::{explain, missing_module_hint};
pub use runtime::{Cell, Job, Runtime, SessionInstance, SessionSetup};
pub use workdir::{FilesConfig, InputFile, OutputFile, PlaceError};

use crate::error::SandboxError;
use component::{Component, Flavor, javascript, python};
use python_sci::PythonSci;
pub use python_sci::SnapshotError;
use python312::Python312;

/// The languages this build knows, default first.
pub const LANGUAGES: [&str; 4] = [
    python::LANGUAGE,
    Python312::LANGUAGE,
    PythonSci::LANGUAGE,
    javascript::LANGUAGE,
];

/// The javascript runtime's language name.
pub const JAVASCRIPT: &str = javascript::LANGUAGE;

/// Each language with the runtime version behind it.
pub const RUNTIMES: [(&str, &str); 4] = [
    (python::LANGUAGE, python::VERSION),
    (Python312::LANGUAGE, Python312::VERSION),
    (PythonSci::LANGUAGE, PythonSci::VERSION),
    (javascript::LANGUAGE, javascript::VERSION),
];

/// Where things live and how big things may get.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Holds `python.wasm`, `python-lib/`, `python3.12.wasm`, `python-sci/`
    /// and `javascript.wasm` (see `make build`).
    pub runtime_dir: PathBuf,
    /// Compiled-guest cache; `None` compiles in memory at every start.
    pub cache_dir: Option<PathBuf>,
    pub limits: LimitPolicy,
    pub engine: EngineOptions,
    /// Each run's own `/work` and `/tmp`; `None` runs without them.
    pub files: Option<FilesConfig>,
}

impl SandboxConfig {
    /// The runtimes built by `make build` in this checkout, overridable with
    /// `GORU_RUNTIME_DIR`.
    pub fn default_runtime_dir() -> PathBuf {
        std::env::var_os("GORU_RUNTIME_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("build/runtimes"))
    }

    /// `$GORU_CACHE_DIR`, else `$XDG_CACHE_HOME/goru`, else `~/.cache/goru`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("GORU_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(dir).join("goru"));
        }
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/goru"))
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            runtime_dir: Self::default_runtime_dir(),
            cache_dir: Self::default_cache_dir(),
            limits: LimitPolicy::default(),
            engine: EngineOptions::default(),
            files: Some(FilesConfig::default()),
        }
    }
}

/// Cheap to clone; all clones share the engine and the loaded runtimes.
#[derive(Clone)]
pub struct Sandbox(Arc<Inner>);

struct Inner {
    engine: Engine,
    /// The reset strategy in effect (see [`Sandbox::reset_strategy`]).
    reset: ResetStrategy,
    executor: executor::Executor,
    config: SandboxConfig,
    cache: DiskCache,
    python: OnceCell<Component>,
    python312: OnceCell<Python312>,
    python_sci: OnceCell<PythonSci>,
    javascript: OnceCell<Component>,
}

impl Sandbox {
    /// Creates the engine and its ticker. Runtimes load on first use or with
    /// [`Sandbox::precompile`].
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        let engine::Built { engine, reset } = engine::build(config.engine)?;
        engine::start(&engine, &config.engine);
        Ok(Self(Arc::new(Inner {
            reset,
            executor: executor::Executor::new()?,
            cache: DiskCache::new(config.cache_dir.clone()),
            engine,
            config,
            python: OnceCell::new(),
            python312: OnceCell::new(),
            python_sci: OnceCell::new(),
            javascript: OnceCell::new(),
        })))
    }

    /// How freed memory slots are reset: the configured strategy, or `copy`
    /// where `scan` is unavailable.
    pub fn reset_strategy(&self) -> ResetStrategy {
        self.0.reset
    }

    pub fn limits(&self) -> &LimitPolicy {
        &self.0.config.limits
    }

    /// Run directories' settings, when runs get them.
    pub fn files(&self) -> Option<&FilesConfig> {
        self.0.config.files.as_ref()
    }

    /// Loads (compiling or reading the disk cache) the named runtimes now, so
    /// the first run does not pay for it (the original's `WithPrecompile`).
    pub async fn precompile(
        &self,
        languages: &[&str],
    ) -> Result<Vec<(String, CacheOutcome)>, SandboxError> {
        let mut report = Vec::new();
        for lang in languages {
            let outcome = match *lang {
                python::LANGUAGE => self.python().await?.1,
                Python312::LANGUAGE => self.python312().await?.1,
                PythonSci::LANGUAGE => self.python_sci().await?.1,
                javascript::LANGUAGE => self.javascript().await?.1,
                other => return Err(unknown_language(other)),
            };
            report.push(((*lang).to_owned(), outcome));
        }
        Ok(report)
    }

    /// Loads `python` and keeps `size` instances of it pre-instantiated from
    /// now on. Runs then start from a ready instance when one is waiting.
    pub async fn start_pool(&self, size: usize) -> Result<(), SandboxError> {
        let python = self.python().await?.0;
        python.pool(|| pool::Pool::start(&self.0.executor, Arc::downgrade(&self.0), size));
        Ok(())
    }

    /// `(ready, target)` instances in the pool, when one was started.
    pub fn pool_status(&self) -> Option<(usize, usize)> {
        self.0.python.get().and_then(Component::pool_status)
    }

    /// The runtime for `language`, loaded on first use.
    pub async fn runtime(&self, language: &str) -> Result<&dyn Runtime, SandboxError> {
        match language {
            python::LANGUAGE => Ok(self.python().await?.0),
            Python312::LANGUAGE => Ok(self.python312().await?.0),
            PythonSci::LANGUAGE => Ok(self.python_sci().await?.0),
            javascript::LANGUAGE => Ok(self.javascript().await?.0),
            other => Err(unknown_language(other)),
        }
    }

    /// Runs `job` in a fresh instance of `language`'s runtime.
    ///
    /// The guest executes on the sandbox's own executor, never on the
    /// caller's runtime: CPU-bound guests cannot delay the caller's I/O.
    /// Dropping the returned future cancels the run.
    pub async fn run(&self, language: &str, job: Job) -> Result<RunResult, SandboxError> {
        let this = self.clone();
        let language = language.to_owned();
        self.execute(async move {
            let runtime = this.runtime(&language).await?;
            if !job.files.is_empty() && !runtime.has_workdir() {
                return Err(SandboxError::FilesUnsupported {
                    language: runtime.language(),
                });
            }
            let limits = job.limits;
            let mut result = runtime.run(job).await?;
            reason::explain(&mut result, &limits, &language);
            Ok(result)
        })
        .await
    }

    /// Opens an instance of `language` that keeps its state across cells.
    pub async fn open_session(
        &self,
        language: &str,
        setup: SessionSetup,
    ) -> Result<Box<dyn SessionInstance>, SandboxError> {
        let this = self.clone();
        let language = language.to_owned();
        self.execute(async move { this.runtime(&language).await?.open_session(setup).await })
            .await
    }

    /// Runs guest work (a run, a session cell) on the sandbox's executor;
    /// dropping the returned future cancels it.
    pub async fn execute<F, T>(&self, work: F) -> Result<T, SandboxError>
    where
        F: std::future::Future<Output = Result<T, SandboxError>> + Send + 'static,
        T: Send + 'static,
    {
        self.0.executor.run(work).await
    }

    async fn python(&self) -> Result<(&Component, CacheOutcome), SandboxError> {
        let dir = self.0.config.runtime_dir.clone();
        let flavor = move || Flavor {
            language: python::LANGUAGE,
            version: python::VERSION,
            stdlib: Some(dir.join("python-lib")),
        };
        let files = self.0.config.files.clone();
        self.component(&self.0.python, "python.wasm", flavor, files)
            .await
    }

    /// javascript runs get no working directory: the guest has no file API
    /// (granted mounts are reached through `fs_*`).
    async fn javascript(&self) -> Result<(&Component, CacheOutcome), SandboxError> {
        let flavor = || Flavor {
            language: javascript::LANGUAGE,
            version: javascript::VERSION,
            stdlib: None,
        };
        self.component(&self.0.javascript, "javascript.wasm", flavor, None)
            .await
    }

    /// A component runtime from `file` in the runtime directory, loaded once
    /// into `cell`.
    async fn component<'a>(
        &'a self,
        cell: &'a OnceCell<Component>,
        file: &str,
        flavor: impl Fn() -> Flavor + Send + Clone + 'static,
        files: Option<FilesConfig>,
    ) -> Result<(&'a Component, CacheOutcome), SandboxError> {
        let mut outcome = CacheOutcome::Hit;
        let runtime = cell
            .get_or_try_init(|| async {
                let path = self.0.config.runtime_dir.join(file);
                let (runtime, how) = self
                    .load(ArtifactKind::Component, path, move |engine, compiled| {
                        Component::load(engine, compiled, flavor(), files.clone())
                    })
                    .await?;
                outcome = how;
                Ok::<_, SandboxError>(runtime)
            })
            .await?;
        Ok((runtime, outcome))
    }

    async fn python312(&self) -> Result<(&Python312, CacheOutcome), SandboxError> {
        let mut outcome = CacheOutcome::Hit;
        let runtime = self
            .0
            .python312
            .get_or_try_init(|| async {
                let path = self.0.config.runtime_dir.join("python3.12.wasm");
                let (runtime, how) = self
                    .load(ArtifactKind::Module, path, Python312::load)
                    .await?;
                outcome = how;
                Ok::<_, SandboxError>(runtime)
            })
            .await?;
        Ok((runtime, outcome))
    }

    /// python-sci, on its own engine (and that engine's ticker), made on
    /// first use. Compiling its 105 MB module takes a minute or more.
    async fn python_sci(&self) -> Result<(&PythonSci, CacheOutcome), SandboxError> {
        let mut outcome = CacheOutcome::Hit;
        let runtime = self
            .0
            .python_sci
            .get_or_try_init(|| async {
                let engine = engine::build_sci(self.0.config.engine)?;
                engine::start(&engine, &self.0.config.engine);
                let dir = self.0.config.runtime_dir.join("python-sci");
                let files = self.0.config.files.clone();
                let path = {
                    let (engine, dir) = (engine.clone(), dir.clone());
                    let cache = self.0.config.cache_dir.clone();
                    tokio::task::spawn_blocking(move || {
                        python_sci::ensure_snapshot(&engine, &dir, cache.as_deref())
                    })
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?
                };
                let (runtime, how) = self
                    .load_with(
                        engine,
                        ArtifactKind::Module,
                        path,
                        move |engine, compiled| {
                            PythonSci::load(engine, compiled, &dir, files.clone())
                        },
                    )
                    .await?;
                outcome = how;
                Ok::<_, SandboxError>(runtime)
            })
            .await?;
        Ok((runtime, outcome))
    }

    async fn load<T, F>(
        &self,
        kind: ArtifactKind,
        path: PathBuf,
        load: F,
    ) -> Result<(T, CacheOutcome), SandboxError>
    where
        T: Send + 'static,
        F: Fn(&Engine, Compiled<'_>) -> Result<T, SandboxError> + Send + 'static,
    {
        self.load_with(self.0.engine.clone(), kind, path, load)
            .await
    }

    /// Compiling takes seconds of CPU: keep it off the async workers.
    async fn load_with<T, F>(
        &self,
        engine: Engine,
        kind: ArtifactKind,
        path: PathBuf,
        load: F,
    ) -> Result<(T, CacheOutcome), SandboxError>
    where
        T: Send + 'static,
        F: Fn(&Engine, Compiled<'_>) -> Result<T, SandboxError> + Send + 'static,
    {
        let cache = self.0.cache.clone();
        tokio::task::spawn_blocking(move || {
            cache.load(&engine, kind, &path, |compiled| load(&engine, compiled))
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

/// The least memory `language`'s runtime starts in, when it needs more
/// than any limit may give (MIN_MEMORY_MB): checked before a run waits for a slot,
/// so asking for less is a 400 naming `memory_mb`, not a failed start.
pub fn min_memory(language: &str) -> Option<(&'static str, u64)> {
    (language == PythonSci::LANGUAGE).then_some((PythonSci::LANGUAGE, PythonSci::MIN_MEMORY_BYTES))
}

fn unknown_language(requested: &str) -> SandboxError {
    SandboxError::UnknownLanguage {
        requested: requested.to_owned(),
        known: LANGUAGES.join(", "),
    }
}
