//! Swap for the test that needs some, and pushing this process's memory out
//! to it the way memory pressure would.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Swap that is on while this lives: the machine's own if it has any,
/// else a file of ours, turned off and removed on drop.
pub struct Swap {
    file: Option<PathBuf>,
}

const FILE_BYTES: usize = 512 << 20;

impl Swap {
    pub fn on() -> Swap {
        let swaps = std::fs::read_to_string("/proc/swaps").expect("/proc/swaps");
        if swaps.lines().count() > 1 {
            return Swap { file: None };
        }
        let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("goru-test-swap");
        // swapon refuses files with holes: write every byte.
        std::fs::write(&file, vec![0u8; FILE_BYTES]).expect("writing the swap file");
        let mut perms = std::fs::metadata(&file).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&file, perms).unwrap();
        run("mkswap", &file);
        run("swapon", &file);
        Swap { file: Some(file) }
    }

    /// Asks the kernel to page out the accessible parts of every wasmtime
    /// pool slot in this process (the tests' other memory stays where it is,
    /// so swap does not fill with it) and returns how many more bytes are in
    /// swap afterwards.
    pub fn page_out_slots(&self) -> u64 {
        let before = vm_swap_bytes();
        for (lo, hi) in slot_ranges() {
            page_out(lo, hi - lo);
        }
        vm_swap_bytes().saturating_sub(before)
    }
}

/// A pool reserves its slots as one huge mapping and opens each slot's
/// accessible part read-write (the image's pages file-backed, the rest
/// anonymous): runs of adjacent `rw-p` mappings with an inaccessible (`---p`)
/// gigabyte or more on one side. Thread stacks and malloc arenas have
/// guards of a page or a few megabytes.
fn slot_ranges() -> Vec<(usize, usize)> {
    const POOL_GUARD: usize = 1 << 30;
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let entries: Vec<(usize, usize, bool)> = maps
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (lo, hi) = fields.next()?.split_once('-')?;
            let perms = fields.next()?;
            let lo = usize::from_str_radix(lo, 16).ok()?;
            let hi = usize::from_str_radix(hi, 16).ok()?;
            match perms {
                "rw-p" => Some((lo, hi, true)),
                "---p" => Some((lo, hi, false)),
                _ => None,
            }
        })
        .collect();
    let big_guard = |i: Option<usize>, at: usize| {
        i.and_then(|i| entries.get(i))
            .is_some_and(|&(lo, hi, rw)| !rw && hi - lo >= POOL_GUARD && (lo == at || hi == at))
    };
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        if !entries[i].2 {
            i += 1;
            continue;
        }
        // Extend over adjacent rw-p mappings.
        let (lo, mut hi) = (entries[i].0, entries[i].1);
        let first = i;
        while i + 1 < entries.len() && entries[i + 1].2 && entries[i + 1].0 == hi {
            i += 1;
            hi = entries[i].1;
        }
        if big_guard(first.checked_sub(1), lo) || big_guard(Some(i + 1), hi) {
            ranges.push((lo, hi));
        }
        i += 1;
    }
    ranges
}

impl Drop for Swap {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            // swapoff reads everything back in before it returns.
            run("swapoff", file);
            let _ = std::fs::remove_file(file);
        }
    }
}

fn run(tool: &str, file: &Path) {
    let out = Command::new(tool)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (util-linux) is needed to turn swap on: {e}"));
    assert!(
        out.status.success(),
        "{tool} {}: {} (this test turns swap on, which needs root)",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[allow(unsafe_code)]
fn page_out(addr: usize, len: usize) {
    // SAFETY: MADV_PAGEOUT only moves pages of a live mapping of ours to
    // swap; their contents stay the same to every reader. The range comes
    // from /proc/self/maps; if it was unmapped meanwhile the call fails with
    // ENOMEM and changes nothing.
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_PAGEOUT);
    }
}

fn vm_swap_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSwap:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
