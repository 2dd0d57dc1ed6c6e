//! The guest's filesystem with a quota: wasmtime-wasi's `wasi:filesystem`
//! implementation, wrapped so that every way of growing a run's own
//! directories (writes, streams, `set-size`, new files and directories)
//! is checked against the run's byte and entry quota first. Past it the guest
//! gets ENOSPC, as from a full disk, and the host's disk never fills.
//!
//! Descriptors are tracked by where they came from: a run directory (counted
//! against the quota), a mount granted `rw` (existing files may be written,
//! nothing created or removed, as with `fs_*`), or anything else (the stdlib
//! and `ro` mounts are read-only preopens already, and `rwc` mounts are the
//! operator's directories, bounded by their own mode).
//!
//! The byte count is an upper bound kept cheaply (every write adds its length);
//! when it would pass the quota, the run directory is measured for real and the
//! count reset to what is there, so overwriting or deleting files gives room
//! back.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, Descriptor, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry,
    DirectoryEntryStream, ErrorCode, Filesize, MetadataHashValue, NewTimestamp, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, FsError, FsResult, OutputStream, Pollable, StreamError,
};
use wasmtime_wasi::{WasiCtxView, WasiView};

/// A run's directories and how much they may hold.
#[derive(Debug)]
pub struct FsQuota {
    /// Host directory holding every quota-counted preopen of the run.
    root: PathBuf,
    max_bytes: u64,
    max_entries: u64,
    usage: Mutex<Usage>,
    /// Set by every change, even a refused one: an untouched directory is
    /// still empty and can be reused.
    touched: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    bytes: u64,
    entries: u64,
    /// Something was removed or shrunk since the last measurement: only
    /// then can measuring again find room (a full run does not re-walk its
    /// directory at every refused write).
    freed: bool,
    measured: bool,
    /// Bytes written to mounts by this run (never given back).
    mount_bytes: u64,
}

fn full() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

impl FsQuota {
    pub fn new(root: PathBuf, max_bytes: u64, max_entries: u64) -> Self {
        Self {
            root,
            max_bytes,
            max_entries,
            usage: Mutex::default(),
            touched: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        // Every reservation, refusal or release passes here.
        self.touch();
        self.usage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn touch(&self) {
        self.touched
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn touched(&self) -> bool {
        self.touched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Measures again when that can change the answer.
    fn remeasure(&self, usage: &mut Usage) {
        if usage.freed || !usage.measured {
            let real = measure(&self.root, self.max_entries.saturating_mul(4));
            usage.bytes = real.bytes;
            usage.entries = real.entries;
            usage.freed = false;
            usage.measured = true;
        }
    }

    /// Room for `bytes` more bytes, or ENOSPC.
    fn reserve_bytes(&self, bytes: u64) -> io::Result<()> {
        let mut usage = self.usage();
        if usage.bytes.saturating_add(bytes) > self.max_bytes {
            self.remeasure(&mut usage);
            if usage.bytes.saturating_add(bytes) > self.max_bytes {
                return Err(full());
            }
        }
        usage.bytes = usage.bytes.saturating_add(bytes);
        Ok(())
    }

    /// Room for one more file or directory, or ENOSPC.
    fn reserve_entry(&self) -> io::Result<()> {
        let mut usage = self.usage();
        if usage.entries + 1 > self.max_entries {
            self.remeasure(&mut usage);
            if usage.entries + 1 > self.max_entries {
                return Err(full());
            }
        }
        usage.entries += 1;
        Ok(())
    }

    /// Something was removed or shrunk: the next shortage measures again.
    fn freed(&self) {
        self.usage().freed = true;
    }

    /// For callers that cannot tell growth from overwriting (WASI preview 1,
    /// see `quota_p1`): they reserve every byte written and every entry
    /// they might create, and a shortage measures the directory again
    /// before refusing, so the upper bound never refuses what really fits.
    pub(super) fn reserve_upper_bound(&self, bytes: u64, entries: u64) -> io::Result<()> {
        let mut usage = self.usage();
        let over = |u: &Usage| {
            u.bytes.saturating_add(bytes) > self.max_bytes
                || u.entries.saturating_add(entries) > self.max_entries
        };
        if over(&usage) {
            usage.freed = true;
            self.remeasure(&mut usage);
            if over(&usage) {
                return Err(full());
            }
        }
        usage.bytes = usage.bytes.saturating_add(bytes);
        usage.entries = usage.entries.saturating_add(entries);
        Ok(())
    }

    /// Bytes written into granted mounts: the same budget again, counted
    /// for the whole run and never given back, so a run cannot fill the
    /// operator's disk through a writable mount.
    fn reserve_mount_bytes(&self, bytes: u64) -> io::Result<()> {
        let mut usage = self.usage();
        if usage.mount_bytes.saturating_add(bytes) > self.max_bytes {
            return Err(full());
        }
        usage.mount_bytes += bytes;
        Ok(())
    }

    /// Whether `files` fit beside what the directory holds now.
    pub fn fits(&self, bytes: u64, entries: u64) -> bool {
        let mut usage = self.usage();
        usage.freed = true;
        self.remeasure(&mut usage);
        usage.bytes.saturating_add(bytes) <= self.max_bytes
            && usage.entries.saturating_add(entries) <= self.max_entries
    }
}

/// What is really under `root`: bytes of regular files and the number of
/// entries, never following a symlink, visiting at most `max_visits` entries.
fn measure(root: &Path, max_visits: u64) -> Usage {
    let mut usage = Usage::default();
    let mut pending = vec![root.to_owned()];
    let mut visits = 0;
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            visits += 1;
            if visits > max_visits {
                // More entries than the quota allows: count it as full.
                return Usage {
                    bytes: u64::MAX / 2,
                    entries: u64::MAX / 2,
                    ..Usage::default()
                };
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            usage.entries += 1;
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                // Saturating: sparse files can claim any length.
                usage.bytes = usage.bytes.saturating_add(meta.len());
            }
        }
    }
    usage
}

/// Where a descriptor came from, which decides what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The run's own directories: counted against the quota.
    Counted,
    /// A mount granted `rw`: existing files may be overwritten, nothing
    /// created, removed or renamed.
    NoCreate,
    /// Left to wasmtime-wasi's own permissions.
    Plain,
}

/// Per-store filesystem policy: the quota and each descriptor's origin.
#[derive(Debug, Default)]
pub struct FsPolicy {
    quota: Option<Arc<FsQuota>>,
    /// Guest path of each preopen and its origin.
    preopens: Vec<(String, Origin)>,
    /// Origin of every live descriptor, by resource id.
    origins: HashMap<u32, Origin>,
}

impl FsPolicy {
    pub fn new(quota: Option<Arc<FsQuota>>, preopens: Vec<(String, Origin)>) -> Self {
        Self {
            quota,
            preopens,
            origins: HashMap::new(),
        }
    }

    fn origin(&self, fd: &Resource<Descriptor>) -> Origin {
        self.origins
            .get(&fd.rep())
            .copied()
            .unwrap_or(Origin::Plain)
    }
}

/// Store data that offers the filesystem policy next to WASI.
pub trait HasFsPolicy: WasiView {
    /// Both at once (they live in different fields of the store data).
    fn fs_parts(&mut self) -> (WasiCtxView<'_>, &mut FsPolicy);
}

/// The view the wrapped interface is implemented on.
pub struct QuotaFs<'a> {
    inner: WasiFilesystemCtxView<'a>,
    policy: &'a mut FsPolicy,
}

struct QuotaFsData;

impl HasData for QuotaFsData {
    type Data<'a> = QuotaFs<'a>;
}

fn view<T: HasFsPolicy>(data: &mut T) -> QuotaFs<'_> {
    let (wasi, policy) = data.fs_parts();
    QuotaFs {
        inner: WasiFilesystemCtxView {
            ctx: wasi.ctx.filesystem(),
            table: wasi.table,
        },
        policy,
    }
}

/// Links WASI with the wrapped filesystem in place of wasmtime-wasi's own.
pub fn add_to_linker<T: HasFsPolicy>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    // Later definitions replace the plain filesystem interfaces.
    linker.allow_shadowing(true);
    types::add_to_linker::<T, QuotaFsData>(linker, view::<T>)?;
    preopens::add_to_linker::<T, QuotaFsData>(linker, view::<T>)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn denied() -> FsError {
    ErrorCode::NotPermitted.into()
}

/// What writes through a descriptor are charged to.
#[derive(Clone)]
enum Charge {
    /// The run directory's quota.
    Quota(Arc<FsQuota>),
    /// The run's budget for writing into granted mounts.
    Mounts(Arc<FsQuota>),
}

impl Charge {
    fn reserve(&self, bytes: u64) -> io::Result<()> {
        match self {
            Self::Quota(q) => q.reserve_bytes(bytes),
            Self::Mounts(q) => q.reserve_mount_bytes(bytes),
        }
    }
}

impl QuotaFs<'_> {
    fn charge(&self, fd: &Resource<Descriptor>) -> Option<Charge> {
        let quota = self.policy.quota.clone()?;
        Some(match self.policy.origin(fd) {
            Origin::Counted => Charge::Quota(quota),
            Origin::NoCreate | Origin::Plain => Charge::Mounts(quota),
        })
    }

    fn freed(&self, fd: &Resource<Descriptor>) {
        if self.policy.origin(fd) == Origin::Counted
            && let Some(quota) = &self.policy.quota
        {
            quota.freed();
        }
    }

    /// Links and renames stay within one kind of directory: nothing moves
    /// between the run's own directories and a mount.
    fn same_origin(&self, a: &Resource<Descriptor>, b: &Resource<Descriptor>) -> FsResult<()> {
        if self.policy.origin(a) != self.policy.origin(b) {
            return Err(ErrorCode::CrossDevice.into());
        }
        Ok(())
    }

    /// Refuses making a new entry under `fd` past the quota or in an `rw` mount.
    fn may_create(&self, fd: &Resource<Descriptor>) -> FsResult<()> {
        match self.policy.origin(fd) {
            Origin::NoCreate => Err(denied()),
            Origin::Counted => match &self.policy.quota {
                Some(quota) => quota
                    .reserve_entry()
                    .map_err(|_| ErrorCode::InsufficientSpace.into()),
                None => Ok(()),
            },
            Origin::Plain => Ok(()),
        }
    }

    fn may_remove(&self, fd: &Resource<Descriptor>) -> FsResult<()> {
        if self.policy.origin(fd) == Origin::NoCreate {
            return Err(denied());
        }
        Ok(())
    }
}

impl preopens::Host for QuotaFs<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        let dirs = preopens::Host::get_directories(&mut self.inner)?;
        for (fd, guest) in &dirs {
            let origin = self
                .policy
                .preopens
                .iter()
                .find(|(path, _)| path == guest)
                .map_or(Origin::Plain, |(_, o)| *o);
            self.policy.origins.insert(fd.rep(), origin);
        }
        Ok(dirs)
    }
}

impl types::Host for QuotaFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.inner, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.inner, err)
    }
}

impl types::HostDescriptor for QuotaFs<'_> {
    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
        len: Filesize,
        advice: Advice,
    ) -> FsResult<()> {
        types::HostDescriptor::advise(&mut self.inner, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        types::HostDescriptor::sync_data(&mut self.inner, fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorFlags> {
        types::HostDescriptor::get_flags(&mut self.inner, fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorType> {
        types::HostDescriptor::get_type(&mut self.inner, fd).await
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: Filesize) -> FsResult<()> {
        if let Some(charge) = self.charge(&fd) {
            charge
                .reserve(size)
                .map_err(|_| ErrorCode::InsufficientSpace)?;
        }
        self.freed(&fd);
        types::HostDescriptor::set_size(&mut self.inner, fd, size).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        types::HostDescriptor::set_times(&mut self.inner, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        types::HostDescriptor::read(&mut self.inner, fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        if let Some(charge) = self.charge(&fd) {
            charge
                .reserve(buf.len() as u64)
                .map_err(|_| ErrorCode::InsufficientSpace)?;
        }
        types::HostDescriptor::write(&mut self.inner, fd, buf, offset).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DirectoryEntryStream>> {
        types::HostDescriptor::read_directory(&mut self.inner, fd).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        types::HostDescriptor::sync(&mut self.inner, fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.may_create(&fd)?;
        types::HostDescriptor::create_directory_at(&mut self.inner, fd, path).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorStat> {
        types::HostDescriptor::stat(&mut self.inner, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        types::HostDescriptor::stat_at(&mut self.inner, fd, flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        types::HostDescriptor::set_times_at(&mut self.inner, fd, flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_flags: PathFlags,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.same_origin(&fd, &new_fd)?;
        self.may_create(&new_fd)?;
        types::HostDescriptor::link_at(&mut self.inner, fd, old_flags, old_path, new_fd, new_path)
            .await
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        dflags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let origin = self.policy.origin(&fd);
        if oflags.contains(OpenFlags::CREATE) {
            // Creating an existing file is not a new entry; only ask for
            // room when the path is not there yet.
            // Stat as the open will resolve the path: a dangling symlink
            // followed by the open is a new entry.
            let exists = types::HostDescriptor::stat_at(
                &mut self.inner,
                Resource::new_borrow(fd.rep()),
                flags,
                path.clone(),
            )
            .await
            .is_ok();
            if !exists {
                self.may_create(&fd)?;
            }
        }
        if oflags.contains(OpenFlags::TRUNCATE) {
            // Truncating gives room back; in rw it is overwriting, allowed.
            self.freed(&fd);
        }
        let opened =
            types::HostDescriptor::open_at(&mut self.inner, fd, flags, path, oflags, dflags)
                .await?;
        self.policy.origins.insert(opened.rep(), origin);
        Ok(opened)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        types::HostDescriptor::readlink_at(&mut self.inner, fd, path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.may_remove(&fd)?;
        self.freed(&fd);
        types::HostDescriptor::remove_directory_at(&mut self.inner, fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.same_origin(&fd, &new_fd)?;
        self.may_remove(&fd)?;
        self.may_remove(&new_fd)?;
        self.freed(&fd);
        types::HostDescriptor::rename_at(&mut self.inner, fd, old_path, new_fd, new_path).await
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_path: String,
    ) -> FsResult<()> {
        self.may_create(&fd)?;
        types::HostDescriptor::symlink_at(&mut self.inner, fd, old_path, new_path).await
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.may_remove(&fd)?;
        self.freed(&fd);
        types::HostDescriptor::unlink_file_at(&mut self.inner, fd, path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        types::HostDescriptor::read_via_stream(&mut self.inner, fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let quota = self.charge(&fd);
        let stream = types::HostDescriptor::write_via_stream(&mut self.inner, fd, offset)?;
        self.counted(stream, quota)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let quota = self.charge(&fd);
        let stream = types::HostDescriptor::append_via_stream(&mut self.inner, fd)?;
        self.counted(stream, quota)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        types::HostDescriptor::is_same_object(&mut self.inner, a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<MetadataHashValue> {
        types::HostDescriptor::metadata_hash(&mut self.inner, fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        types::HostDescriptor::metadata_hash_at(&mut self.inner, fd, flags, path).await
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        self.policy.origins.remove(&fd.rep());
        types::HostDescriptor::drop(&mut self.inner, fd)
    }
}

impl QuotaFs<'_> {
    /// Replaces a file stream in the table with one that counts its bytes.
    fn counted(
        &mut self,
        stream: Resource<DynOutputStream>,
        charge: Option<Charge>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let Some(charge) = charge else {
            return Ok(stream);
        };
        let inner = self.inner.table.delete(stream)?;
        let counted: DynOutputStream = Box::new(CountedStream { inner, charge });
        Ok(self.inner.table.push(counted)?)
    }
}

impl types::HostDirectoryEntryStream for QuotaFs<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirectoryEntryStream>,
    ) -> FsResult<Option<DirectoryEntry>> {
        types::HostDirectoryEntryStream::read_directory_entry(&mut self.inner, stream).await
    }

    fn drop(&mut self, stream: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        types::HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}

/// A file output stream whose writes are counted against the quota. (The
/// preview1 adapter componentize-py links reports a failed stream write as
/// EIO whatever the error, so past the quota a plain `write()` raises
/// `OSError: [Errno 29] I/O error`; creating files past the quota raises
/// ENOSPC.)
struct CountedStream {
    inner: DynOutputStream,
    charge: Charge,
}

#[async_trait::async_trait]
impl OutputStream for CountedStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.charge
            .reserve(bytes.len() as u64)
            .map_err(|e| StreamError::LastOperationFailed(e.into()))?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[async_trait::async_trait]
impl Pollable for CountedStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_quota_is_an_io_error_wasi_can_name() {
        let e: wasmtime::Error = full().into();
        let io = e.downcast_ref::<io::Error>().expect("an io::Error inside");
        assert_eq!(io.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(ErrorCode::from(io), ErrorCode::InsufficientSpace);
    }

    #[test]
    fn measuring_counts_bytes_and_entries_without_following_symlinks() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d/f"), b"12345").unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("etc")).unwrap();
        let usage = measure(root.path(), 100);
        assert_eq!((usage.bytes, usage.entries), (5, 3));
    }
}
