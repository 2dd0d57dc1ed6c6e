//! The run directory's quota for WASI preview-1 guests (python-sci).
//!
//! wasmtime-wasi implements preview 1 inside `WasiP1Ctx`, with no hook
//! between a guest's write and the host's disk, so `quota_fs` (which shadows
//! the component interfaces) cannot see these guests. Instead, every p1
//! function that can make the run's directories bigger is shadowed in the
//! core linker by a wrapper that reserves room in the run's [`FsQuota`]
//! first (refusing with ENOSPC, like a full disk) and then calls
//! wasmtime-wasi's own function, taken from a second linker that has only
//! those. Without the file's size the wrapper cannot tell growth from
//! overwriting: it reserves every byte written and every entry a call might
//! create, and the quota measures the directory again before it refuses.
//!
//! Only the run's own `/work` and `/tmp` are writable for these guests
//! (their other preopens, granted mounts included, are read-only: mounts are
//! written through `fs_*`), so every write to a non-stdio descriptor is
//! counted.

use std::sync::Arc;

use wasmtime::{
    Caller, Engine, Extern, Func, FuncType, Instance, Linker, Memory, Module, Store, Val,
};

use super::quota_fs::FsQuota;

const MODULE: &str = "wasi_snapshot_preview1";
/// p1 errno values.
const ENOSPC: i32 = 51;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ENOSYS: i32 = 52;
/// `oflags` bit that creates the file.
const O_CREAT: i32 = 1;
/// More buffers than this in one write is refused (POSIX IOV_MAX is 1024).
const MAX_IOVS: usize = 1024;

/// The wrapped functions, in the order of [`P1Quota::originals`].
const WRAPPED: [&str; 10] = [
    "fd_write",
    "fd_pwrite",
    "path_open",
    "path_create_directory",
    "path_symlink",
    "path_link",
    "fd_filestat_set_size",
    "fd_allocate",
    "path_rename",
    "path_unlink_file",
];

/// A store's side: its quota and the trampoline's functions to call after it.
#[derive(Default)]
pub struct P1Quota {
    quota: Option<Arc<FsQuota>>,
    /// By index in [`WRAPPED`]; `None` for those the guest does not import.
    originals: Vec<Option<Func>>,
}

/// wasmtime-wasi's preview-1 functions find the guest's memory through the
/// instance that calls them, so a wrapper (a host function) cannot call
/// them directly. This small module, made once per guest module, imports
/// the guest's memory and wasmtime-wasi's functions and exports both: a
/// wrapper calls its export, which calls wasmtime-wasi from wasm, with
/// the memory in reach.
pub struct Trampoline {
    module: Module,
    /// Indexes in [`WRAPPED`] of the functions it carries, in import order.
    carried: Vec<usize>,
}

impl Trampoline {
    pub fn new(engine: &Engine, guest: &Module) -> wasmtime::Result<Self> {
        use wasm_encoder as we;
        let mut carried = Vec::new();
        let mut types = we::TypeSection::new();
        let mut imports = we::ImportSection::new();
        let mut functions = we::FunctionSection::new();
        let mut exports = we::ExportSection::new();
        let mut code = we::CodeSection::new();
        imports.import(
            "env",
            "memory",
            we::MemoryType {
                minimum: 0,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            },
        );
        exports.export("memory", we::ExportKind::Memory, 0);
        let mut signatures = Vec::new();
        for (index, name) in WRAPPED.iter().enumerate() {
            let Some(ty) = imported(guest, name) else {
                continue;
            };
            let encode = |t: wasmtime::ValType| match t {
                wasmtime::ValType::I32 => Ok(we::ValType::I32),
                wasmtime::ValType::I64 => Ok(we::ValType::I64),
                other => Err(wasmtime::Error::msg(format!("{name} takes a {other}"))),
            };
            let params = ty
                .params()
                .map(encode)
                .collect::<wasmtime::Result<Vec<_>>>()?;
            let results = ty
                .results()
                .map(encode)
                .collect::<wasmtime::Result<Vec<_>>>()?;
            let type_index = carried.len() as u32;
            types.ty().function(params.clone(), results);
            imports.import(MODULE, name, we::EntityType::Function(type_index));
            signatures.push(params.len() as u32);
            carried.push(index);
        }
        let imported_funcs = carried.len() as u32;
        for (i, (&index, &arity)) in carried.iter().zip(&signatures).enumerate() {
            let i = i as u32;
            functions.function(i);
            exports.export(WRAPPED[index], we::ExportKind::Func, imported_funcs + i);
            let mut body = we::Function::new([]);
            let mut sink = body.instructions();
            for param in 0..arity {
                sink.local_get(param);
            }
            sink.call(i).end();
            code.function(&body);
        }
        let mut module = we::Module::new();
        module
            .section(&types)
            .section(&imports)
            .section(&functions)
            .section(&exports)
            .section(&code);
        Ok(Self {
            module: Module::new(engine, module.finish())?,
            carried,
        })
    }
}

impl P1Quota {
    /// Binds `store` to `quota` once its guest is instantiated: the
    /// trampoline gets the guest's `memory` and the originals from
    /// `originals` (a linker holding only wasmtime-wasi's preview 1).
    pub async fn attach<T: Send + 'static>(
        store: &mut Store<T>,
        originals: &Linker<T>,
        trampoline: &Trampoline,
        memory: Memory,
        quota: Option<Arc<FsQuota>>,
        get: fn(&mut T) -> &mut P1Quota,
    ) -> wasmtime::Result<()> {
        let mut imports: Vec<Extern> = vec![memory.into()];
        for &index in &trampoline.carried {
            imports.push(originals.get(&mut *store, MODULE, WRAPPED[index])?);
        }
        let instance = Instance::new_async(&mut *store, &trampoline.module, &imports).await?;
        let mut funcs = vec![None; WRAPPED.len()];
        for &index in &trampoline.carried {
            funcs[index] = instance.get_func(&mut *store, WRAPPED[index]);
        }
        *get(store.data_mut()) = P1Quota {
            quota,
            originals: funcs,
        };
        Ok(())
    }
}

fn imported(guest: &Module, name: &str) -> Option<FuncType> {
    guest.imports().find_map(|import| {
        (import.module() == MODULE && import.name() == name)
            .then(|| import.ty().func().cloned())
            .flatten()
    })
}

/// What a call may add to the directories, before it runs.
enum Growth {
    /// Bytes written from these iovecs, unless the descriptor is stdio.
    Iovecs {
        fd: i32,
        iovs: u32,
        len: u32,
    },
    Bytes(u64),
    Entry,
    /// Nothing to reserve, but the directory changes (a renamed or removed
    /// file): the run's directory counts as touched.
    Touch,
    Nothing,
}

/// Shadows the growing p1 functions `module` imports in `linker` (which
/// must already hold wasmtime-wasi's) with the quota's wrappers.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    module: &Module,
    get: fn(&mut T) -> &mut P1Quota,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    for (index, name) in WRAPPED.iter().enumerate() {
        let Some(ty) = imported(module, name) else {
            continue;
        };
        linker.func_new_async(MODULE, name, ty, move |mut caller, params, results| {
            Box::new(async move {
                let growth = growth(index, params);
                if let Err(errno) = reserve(&mut caller, get, growth) {
                    results[0] = Val::I32(errno);
                    return Ok(());
                }
                let Some(original) = get(caller.data_mut()).originals[index] else {
                    results[0] = Val::I32(ENOSYS);
                    return Ok(());
                };
                original.call_async(&mut caller, params, results).await
            })
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

fn growth(index: usize, params: &[Val]) -> Growth {
    let i32_at = |i: usize| params.get(i).and_then(Val::i32).unwrap_or(0);
    let u64_at = |i: usize| params.get(i).and_then(Val::i64).unwrap_or(0) as u64;
    match WRAPPED[index] {
        "fd_write" | "fd_pwrite" => Growth::Iovecs {
            fd: i32_at(0),
            iovs: i32_at(1) as u32,
            len: i32_at(2) as u32,
        },
        "path_open" if i32_at(4) & O_CREAT != 0 => Growth::Entry,
        "path_create_directory" | "path_symlink" | "path_link" => Growth::Entry,
        "fd_filestat_set_size" => Growth::Bytes(u64_at(1)),
        "fd_allocate" => Growth::Bytes(u64_at(1).saturating_add(u64_at(2))),
        "path_rename" | "path_unlink_file" => Growth::Touch,
        _ => Growth::Nothing,
    }
}

/// Reserves room for `growth`; `Err` is the errno to return instead of
/// calling wasmtime-wasi.
fn reserve<T>(
    caller: &mut Caller<'_, T>,
    get: fn(&mut T) -> &mut P1Quota,
    growth: Growth,
) -> Result<(), i32> {
    let (bytes, entries) = match growth {
        Growth::Nothing => return Ok(()),
        Growth::Iovecs { fd, .. } if (0..=2).contains(&fd) => return Ok(()),
        Growth::Iovecs { iovs, len, .. } => (iovec_bytes(caller, iovs, len)?, 0),
        Growth::Bytes(bytes) => (bytes, 0),
        Growth::Entry => (0, 1),
        Growth::Touch => (0, 0),
    };
    let Some(quota) = get(caller.data_mut()).quota.clone() else {
        return Ok(());
    };
    quota.touch();
    quota
        .reserve_upper_bound(bytes, entries)
        .map_err(|_| ENOSPC)
}

/// The total length of `len` iovecs (each a u32 pointer and a u32 length)
/// at `iovs` in the guest's memory.
fn iovec_bytes<T>(caller: &mut Caller<'_, T>, iovs: u32, len: u32) -> Result<u64, i32> {
    let len = len as usize;
    if len > MAX_IOVS {
        return Err(EINVAL);
    }
    let memory = caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or(EFAULT)?;
    let start = iovs as usize;
    let end = start.checked_add(len * 8).ok_or(EFAULT)?;
    let data = memory.data(&*caller).get(start..end).ok_or(EFAULT)?;
    Ok(data
        .chunks_exact(8)
        .map(|iov| u64::from(u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]])))
        .sum())
}
