//! Every run gets a fresh instance of the snapshot, whatever the slot it
//! lands in held before: under each reset strategy, with all, some or none
//! of the slot kept resident, and with the last run's pages swapped out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use crate::common;

use std::time::Duration;

use common::{TestServer, server_config, start_server};
use goru::sandbox::ResetStrategy;
use serde_json::json;

mod swap;

/// Plants state where the next run in the slot would see it: attributes on
/// modules the snapshot holds, a broken stdlib function.
const PLANT: &str = "import builtins, collections, json, re
for m in (builtins, collections, json, re):
    m.planted = 1
json.dumps = None";

/// Prints "fresh", or STALE naming what it found of an earlier run.
const CHECK: &str = "import builtins, collections, json, re
found = [m.__name__ for m in (builtins, collections, json, re) if hasattr(m, 'planted')]
if json.dumps is None:
    found.append('json.dumps')
print('STALE ' + ' '.join(found) if found else 'fresh')";

/// A server whose one start slot every run reuses in turn.
async fn one_slot_server(reset: ResetStrategy, keep_resident_mb: u64) -> TestServer {
    let mut config = server_config();
    config.engine.reset = reset;
    config.engine.keep_resident_mb = keep_resident_mb;
    config.server.concurrency = 1;
    start_server(config).await
}

#[tokio::test]
async fn pooled_sandboxes_never_carry_state_between_runs() {
    // Every reset strategy, and a slot that keeps nothing resident (all its
    // pages go back to the kernel) or only part of what a run writes (24 MiB
    // of junk below, against 2 MiB kept).
    for (reset, keep_resident_mb) in [
        (ResetStrategy::Copy, 64),
        (ResetStrategy::Scan, 64),
        (ResetStrategy::Copy, 0),
        (ResetStrategy::Scan, 2),
    ] {
        let s = one_slot_server(reset, keep_resident_mb).await;
        let code = format!("{CHECK}\n{PLANT}\njunk = bytearray(b'\\xaa') * (24 << 20)");
        for i in 0..6 {
            let body = s.run_ok(json!({ "code": code })).await;
            assert_eq!(
                body["stdout"], "fresh\n",
                "run {i} with reset {reset:?}, keep_resident_mb {keep_resident_mb}: {body}"
            );
        }
        let metrics = s.get_text("/metrics").await;
        // This machine's kernel (6.7+) has PAGEMAP_SCAN: `scan` must really run.
        let reported = format!(
            "goru_engine_reset{{strategy=\"{}\",keep_resident_mb=\"{keep_resident_mb}\"}} 1",
            reset.as_str()
        );
        assert!(metrics.contains(&reported), "{reported} missing: {metrics}");
        s.server.shutdown();
    }
}

/// A page the kernel swapped out is not present, and stock wasmtime 48.0.8's
/// scan looked only at present pages: it neither reset nor gave back a
/// swapped-out page, so the next run in the slot read the last one's bytes
/// (seen here as a crash at the first instruction, or as planted state).
/// scripts/wasmtime/pagemap-scan.patch counts swapped pages as dirty.
#[tokio::test]
async fn a_slot_swapped_out_during_a_run_is_reset_all_the_same() {
    let swap = swap::Swap::on();
    for reset in [ResetStrategy::Scan, ResetStrategy::Copy] {
        let s = one_slot_server(reset, 64).await;
        for round in 0..3 {
            // The run plants its state and 16 MiB of junk, then sleeps while
            // the pool's slots are pushed out to swap, three times over
            // (the run may start late on a loaded machine).
            let code = format!(
                "{PLANT}\njunk = bytearray(b'\\xaa') * (16 << 20)\nimport time\ntime.sleep(2.5)"
            );
            let planted = s.spawn_run(json!({ "code": code }));
            let mut swapped = 0;
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(600)).await;
                swapped += swap.page_out_slots();
            }
            assert!(
                swapped >= 8 << 20,
                "only {swapped} bytes went to swap: this test would prove nothing"
            );
            let planted = planted.await.unwrap();
            assert_eq!(planted["status"], "ok", "{planted}");

            let body = s.run_ok(json!({ "code": CHECK })).await;
            assert_eq!(
                (body["status"].as_str(), body["stdout"].as_str()),
                (Some("ok"), Some("fresh\n")),
                "reset {reset:?}, round {round}, after {swapped} bytes swapped: {body}"
            );
        }
        s.server.shutdown();
    }
}

/// RSS of a process, in bytes (`VmRSS` of /proc/PID/status).
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib << 10
}

/// After a load, slots that went idle give back what they kept
/// (`[engine] idle_trim_seconds`), and a run in a trimmed slot still gets
/// the snapshot's exact state. A server process of its own, so that its RSS
/// is its slots' and nobody else's.
#[tokio::test]
async fn idle_slots_give_their_pages_back_and_still_run_fresh() {
    use crate::scale_out::goru_process::GoruProcess;
    let server = GoruProcess::start("[engine]\nidle_trim_seconds = 2\n").await;
    let client = reqwest::Client::new();
    let run = |code: String| {
        let (client, url) = (client.clone(), server.url("/run"));
        async move {
            let answer = common::post(&client, url, json!({ "code": code })).await;
            assert_eq!(answer["status"], "ok", "{answer}");
            answer["stdout"].as_str().unwrap().to_owned()
        }
    };
    // Runs past long_after_ms move to the long lane, so these hold many
    // slots at once; each writes 4 MiB that its slot keeps (under 8 MiB).
    let planting = format!(
        "{PLANT}\nimport time\nx = bytearray(4 << 20)\nx[:] = b'1' * len(x)\ntime.sleep(0.3)"
    );
    futures::future::join_all((0..12).map(|_| run(planting.clone()))).await;
    let loaded = rss_bytes(server.pid());

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let trimmed = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = rss_bytes(server.pid());
        if now + (32 << 20) <= loaded || std::time::Instant::now() > deadline {
            break now;
        }
    };
    assert!(
        trimmed + (32 << 20) <= loaded,
        "idle slots kept their pages: RSS {} MiB after the load, {} MiB once idle",
        loaded >> 20,
        trimmed >> 20
    );

    eprintln!(
        "idle trim: RSS {} MiB after the load, {} MiB once idle",
        loaded >> 20,
        trimmed >> 20
    );
    let checks = futures::future::join_all((0..6).map(|_| run(CHECK.to_owned()))).await;
    for stdout in checks {
        assert_eq!(stdout, "fresh\n", "a trimmed slot gave a run stale state");
    }
}
