"""`make bench-reset`: the engine's slot-reset strategies side by side.

Each configuration (`[engine] reset` and `keep_resident_mb`, set through
GORU_ENGINE_*) gets its own release server with only `python` loaded; each
round runs every configuration in turn (so all see the same machine) at
c=1, c=8 and c=64 with `print(1+1)`, and the table gives the medians of the
rounds. Per point: runs/s, p50, the server's CPU per request and minor page
faults per request (/proc/PID/stat), TLB-shootdown interrupts per request
(/proc/interrupts, whole machine), peak RSS; per configuration, RSS
AFTER_LOAD_S seconds after the c=64 point. Writes build/bench/reset-WORKLOAD.json.

Knobs: BENCH_DURATION seconds per wrk point (10), BENCH_WARMUP (2),
BENCH_ROUNDS (2), BENCH_RESET_CONFIGS (e.g. "copy:64,scan:64,copy:0"; a
configuration may name another binary to compare with, "scan:64@/tmp/goru-old"),
BENCH_RESET_WORKLOAD (print: `print(1+1)`; json: a heavier run, see WORKLOADS).
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (the shared helpers: servers, wrk, CPU, memory)

def parse_config(text):
    """"scan:64" -> ("scan", "64", None); "scan:64@PATH" -> ("scan", "64", PATH),
    where None runs this tree's binary."""
    reset, _, rest = text.partition(":")
    keep, _, other = rest.partition("@")
    return reset, keep, other or None


CONFIGS = [parse_config(c) for c in
           os.environ.get("BENCH_RESET_CONFIGS", "copy:64,scan:64,copy:8,scan:8,copy:0").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
# A heavier run than print(1+1), which writes more of the heap: 20,000 dicts
# built and serialized (about 1.4 MB of JSON). BENCH_RESET_WORKLOAD=json.
WORKLOADS = {
    "print": None,
    "json": ("import json\nd = [{'k': i, 'v': 'x' * 50} for i in range(20000)]\nprint(len(json.dumps(d)))",
             "1448890\n"),
}
WORKLOAD = os.environ.get("BENCH_RESET_WORKLOAD", "print")
LOADS = (1, 8, 64)


def minor_faults(pid):
    """minflt of `pid` (/proc/PID/stat field 10)."""
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[7])


def tlb_shootdowns():
    """TLB-shootdown interrupts so far, summed over the CPUs (x86 'TLB' line)."""
    for line in open("/proc/interrupts"):
        name, _, rest = line.partition(":")
        if name.strip() == "TLB":
            return sum(int(f) for f in rest.split() if f.isdigit())
    return 0


def point(pid, port, conns):
    cpu0, flt0, tlb0 = load.cpu_seconds(pid), minor_faults(pid), tlb_shootdowns()
    sampler = load.PeakMemory(pid)
    sampler.start()
    got = load.wrk(port, "python", conns, load.DURATION, workload=WORKLOADS[WORKLOAD])
    sampler.stopping.set()
    sampler.join()
    n = max(got["ok"], 1)
    got["cpu_ms_per_request"] = 1000 * (load.cpu_seconds(pid) - cpu0) / n
    got["faults_per_request"] = (minor_faults(pid) - flt0) / n
    got["tlb_per_request"] = (tlb_shootdowns() - tlb0) / n
    got["peak_rss_mib"] = sampler.peak["rss_kib"] / 1024
    return got


def measure(binary, cache, reset, keep, other):
    env = {"GORU_ENGINE_RESET": reset, "GORU_ENGINE_KEEP_RESIDENT_MB": keep,
           "GORU_SERVER_PRECOMPILE": '["python"]'}
    p, port = load.start_goru(other or binary, cache, log=f"goru-{reset}-{keep}", env=env)
    try:
        in_effect = load.reset_strategy(port)
        load.wrk(port, "python", 8, load.WARMUP, workload=WORKLOADS[WORKLOAD])
        load.wait_idle(p.pid)
        out = {"in_effect": in_effect}
        for conns in LOADS:
            print(f"  {reset}:{keep} c={conns}", file=sys.stderr)
            out[f"c{conns}"] = point(p.pid, port, conns)
            load.wait_idle(p.pid)
        time.sleep(max(0.0, load.AFTER_LOAD_S - 0.5))
        after = load.memory(p.pid)
        out["rss_after_mib"] = after["rss_kib"] / 1024
        # PSS counts a page of the shared snapshot image once, where RSS
        # counts it again for every slot that maps it.
        out["pss_after_mib"] = (after["pss_kib"] or 0) / 1024
        return out
    finally:
        load.stop(p)


def main():
    binary, cache = load.bench_setup()
    rounds = {c: [] for c in CONFIGS}
    for rnd in range(ROUNDS):
        print(f"round {rnd + 1} of {ROUNDS}", file=sys.stderr)
        for reset, keep, other in CONFIGS:
            rounds[(reset, keep, other)].append(measure(binary, cache, reset, keep, other))
    summary = {"machine": load.machine(), "commit": load.sh("git", "rev-parse", "--short", "HEAD"),
               "duration_s": load.DURATION, "rounds": ROUNDS, "configs": {}}
    code = "print(1+1)" if WORKLOADS[WORKLOAD] is None else WORKLOADS[WORKLOAD][0].replace("\n", "; ")
    print(f"\nslot reset, `{code}` in python; wrk {load.DURATION} s per point; medians of {ROUNDS} "
          "alternating rounds (each round's values in brackets for runs/s and CPU)")
    print("| reset | keep MiB | conns | runs/s | p50 ms | CPU ms/req | faults/req | TLB IPIs/req "
          "| peak RSS MiB | RSS (PSS) 30 s after c=64 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for reset, keep, other in CONFIGS:
        got = rounds[(reset, keep, other)]
        effect = got[0]["in_effect"]["strategy"]
        label = reset if effect == reset else f"{reset} (ran {effect})"
        if other:
            label += f" ({other})"
        med = {}
        for conns in LOADS:
            pts = [g[f"c{conns}"] for g in got]
            m = {k: statistics.median(q[k] for q in pts)
                 for k in ("runs_per_s", "p50_ms", "cpu_ms_per_request", "faults_per_request",
                           "tlb_per_request", "peak_rss_mib")}
            m["errors"] = sum(q["errors_total"] for q in pts)
            med[f"c{conns}"] = m
            after = None
            if conns == 64:
                after = (f'{statistics.median(g["rss_after_mib"] for g in got):.0f} '
                         f'({statistics.median(g["pss_after_mib"] for g in got):.0f})')
            each = lambda k, f: "/".join(format(q[k], f) for q in pts)  # noqa: E731
            print(f"| {label} | {keep} | {conns} | {m['runs_per_s']:.0f} [{each('runs_per_s', '.0f')}] "
                  f"| {m['p50_ms']:.2f} | {m['cpu_ms_per_request']:.2f} [{each('cpu_ms_per_request', '.2f')}] "
                  f"| {m['faults_per_request']:.0f} | {m['tlb_per_request']:.1f} | {m['peak_rss_mib']:.0f} "
                  f"| {'' if after is None else after} |"
                  + (f" **{m['errors']} errors**" if m["errors"] else ""))
        summary["configs"][f"{reset}:{keep}" + (f"@{other}" if other else "")] = {"median": med, "rounds": got}
    summary["workload"] = WORKLOAD
    with open(os.path.join(load.OUT, f"reset-{WORKLOAD}.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"\nJSON: build/bench/reset-{WORKLOAD}.json")


if __name__ == "__main__":
    try:
        main()
    finally:
        load.stop_all()
