"""`make bench-load`: measures the goru HTTP service end to end with wrk.

Starts the release server on a free loopback port, drives POST /run with
wrk (scripts/bench/run.lua) for `python` and `python3.12`, compares with a
no-sandbox baseline (scripts/bench/native_server.py: one `python3 -c`
subprocess per request), measures cold start and resident memory, and prints
a markdown report plus build/bench/summary.json. Python 3.11, stdlib only.

Every process it starts dies with it: servers are stopped in `finally`,
SIGTERM/SIGHUP are turned into a clean exit, and PR_SET_PDEATHSIG kills the
servers even if this script is SIGKILLed. Exits 1 if any request failed.

Knobs (environment): BENCH_DURATION seconds per wrk point (10),
BENCH_WARMUP seconds of unreported warm-up per language (2),
BENCH_WARM_STARTS warm-cache starts to take the median of (5).
"""

import ctypes
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "scripts", "bench")
OUT = os.path.join(ROOT, "build", "bench")
CONFIG = os.path.join(ROOT, "config", "goru.toml")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
WARM_STARTS = int(os.environ.get("BENCH_WARM_STARTS", "5"))
# Resident memory is read this long after the python c=64 point stops.
AFTER_LOAD_S = 30
# c=64 with python3.12 (~50 ms a run on 2 cores) waits in the queue: make the
# queue deep enough that wrk's 64 connections are all answered, not shed.
SERVER_ENV = {"GORU_SERVER_QUEUE": "256"}
# Issue 9's workload: the same code in python-sci and in the native baseline.
PANDAS = ("import pandas as pd; print(pd.DataFrame({'a':[1,2]}).sum())", "a    3\ndtype: int64\n")
NATIVE_PYTHON = os.path.join(OUT, "venv", "bin", "python")  # scripts/bench/native-venv.sh
BODIES = {
    "python": b'{"code": "print(1+1)"}',
    "python3.12": b'{"code": "print(1+1)", "language": "python3.12"}',
}

procs = []  # every process we started, stopped in stop_all()


# ---------------------------------------------------------------- processes

def _die_with_parent():
    # Runs in the child before exec: SIGKILL it when this script dies,
    # however it dies (even SIGKILL, which no `finally` sees).
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start(cmd, env=None, log="server"):
    logf = open(os.path.join(OUT, "logs", f"{log}.log"), "ab")
    # Logs go to a file: a pipe nobody reads would block the server under load.
    p = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=logf,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         preexec_fn=_die_with_parent, cwd=ROOT)
    logf.close()
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in procs:
        procs.remove(p)


def stop_all():
    for p in list(procs):
        stop(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def run_ok(status, body):
    return status == 200 and b'"status":"ok"' in body and b'"stdout":"2\\n"' in body


def wait_until(p, what, check, timeout=180, pause=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise SystemExit(f"server exited ({p.returncode}) while waiting for {what}; see {OUT}/logs")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(pause)
    raise SystemExit(f"timed out waiting for {what}")


def readyz(port):
    status, body = request(port, "GET", "/readyz", timeout=5)
    return status, json.loads(body)


def goru_cmd(binary, port, *extra):
    return [binary, "serve", "--listen", f"127.0.0.1:{port}", "--config", CONFIG, *extra]


def start_goru(binary, cache, *extra, log="goru", env=None):
    """Starts goru, waits for /readyz 200 and then for a full pool (/readyz
    is 200 as soon as one instance is ready). `env` adds GORU_* settings."""
    port = free_port()
    p = start(goru_cmd(binary, port, *extra), {**SERVER_ENV, "GORU_CACHE_DIR": cache, **(env or {})}, log)
    wait_until(p, "/readyz", lambda: readyz(port)[0] == 200)

    def full():
        pool = readyz(port)[1]["pool"]
        return pool["ready"] >= pool["size"]
    wait_until(p, "a full pool", full, timeout=60)
    return p, port


def cpu_seconds(pid, children=False):
    """utime + stime of `pid`; with `children`, also of the children it
    waited for (a server running a subprocess per request)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid, timeout=60):
    """Waits until the server burns < 10% of a core, so one point's tail (c=64
    leaves up to 64 requests behind when wrk stops) does not bleed into the
    next. CPU time, not /metrics: goru_runs_in_flight is only decremented when
    the handler finishes, so it stays up for runs whose client went away."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < 0.05:
            return
    print(f"warning: server still busy after {timeout} s", file=sys.stderr)


def bench_setup(cache_name="cache"):
    """The companion scripts' start: a private copy of the release binary (a
    rebuild mid-run must not mix two binaries in one report) and a kept
    compiled-guest cache. Returns (binary, cache)."""
    os.makedirs(os.path.join(OUT, "logs"), exist_ok=True)
    binary = os.path.join(OUT, "goru")
    shutil.copy2(os.path.join(ROOT, "target", "release", "goru"), binary)
    cache = os.path.join(OUT, cache_name)
    os.makedirs(cache, exist_ok=True)
    return binary, cache


def reset_strategy(port):
    """How the server resets freed slots, as in effect: the labels of its
    goru_engine_reset metric (`scan` configured on an old kernel runs `copy`)."""
    status, body = request(port, "GET", "/metrics")
    m = re.search(r'^goru_engine_reset\{strategy="(\w+)",keep_resident_mb="(\d+)"\} 1', body.decode(), re.M)
    if status != 200 or not m:
        raise SystemExit(f"no goru_engine_reset in /metrics ({status})")
    return {"strategy": m.group(1), "keep_resident_mb": int(m.group(2))}


# ------------------------------------------------------------------- memory

def memory(pid):
    """RSS (/proc/PID/status VmRSS) and PSS (smaps_rollup, None if unreadable), KiB."""
    rss = pss = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return {"rss_kib": rss, "pss_kib": pss}


def memory_median(pid, samples=3, pause=0.5):
    got = []
    for _ in range(samples):
        got.append(memory(pid))
        time.sleep(pause)
    return {k: (statistics.median(g[k] for g in got) if got[0][k] is not None else None)
            for k in got[0]}


class PeakMemory(threading.Thread):
    """Samples a process's memory every 250 ms and keeps the maxima."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stopping, self.peak = pid, threading.Event(), {"rss_kib": 0, "pss_kib": None}

    def run(self):
        while not self.stopping.wait(0.25):
            m = memory(self.pid)
            self.peak["rss_kib"] = max(self.peak["rss_kib"], m["rss_kib"])
            if m["pss_kib"] is not None:
                self.peak["pss_kib"] = max(self.peak["pss_kib"] or 0, m["pss_kib"])


# ---------------------------------------------------------------------- wrk

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text):
    """wrk --latency output plus run.lua's GORU_BENCH line -> one dict."""
    out = {}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        out[f"p{pct}_ms"] = float(value) * UNITS[unit]
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    out["requests_per_s"] = float(m.group(1)) if m else 0.0
    m = re.search(r"^GORU_BENCH (.*)$", text, re.M)
    if not m:
        raise SystemExit(f"no GORU_BENCH line in wrk output:\n{text}")
    fields = dict(kv.split("=", 1) for kv in m.group(1).split())
    n = {k: int(v) for k, v in fields.items() if k != "codes"}
    out["ok"] = n["ok"]
    # Runs that answered 200 with status ok and stdout "2\n", per second.
    out["runs_per_s"] = n["ok"] / (n["duration_us"] / 1e6)
    out["errors"] = {
        "non_200": n["non200"], "http_503": n["s503"], "statuses": ",".join(sorted(set(fields["codes"].split(",")))),
        "bad_body": n["badbody"], "socket_connect": n["connect"], "socket_read": n["read"],
        "socket_write": n["write"], "socket_timeout": n["timeout"],
    }
    out["errors_total"] = (n["non200"] + n["badbody"] + n["connect"] + n["read"]
                           + n["write"] + n["timeout"])
    return out


def wrk(port, language, conns, seconds, path="/run", workload=None, script="run.lua", policy=None):
    """`workload`: (code, expected stdout) instead of print(1+1) and "2\\n";
    `policy`: a dict sent as the request's policy."""
    cmd = ["wrk", f"-t{1 if conns == 1 else 2}", f"-c{conns}", f"-d{seconds}s",
           "--timeout", "40s",  # past the server's 30 s queue timeout: we want its 503, not wrk's give-up
           "--latency", "-s", os.path.join(HERE, script),
           f"http://127.0.0.1:{port}{path}", "--", language]
    if policy and not workload:
        workload = ("print(1+1)", "2\n")
    if workload:
        cmd += [json.dumps(text)[1:-1] for text in workload]
    if policy:
        cmd.append(json.dumps(policy))
    text = subprocess.run(cmd, capture_output=True, text=True, check=True,
                          preexec_fn=_die_with_parent).stdout
    with open(os.path.join(OUT, "logs", "wrk.log"), "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{text}\n")
    return parse_wrk(text)


# --------------------------------------------------------------- cold start

def cold_start(binary, cache):
    """ms from process start to the first answered POST /run, and to /readyz 200."""
    port = free_port()
    t0 = time.monotonic()
    p = start(goru_cmd(binary, port), {**SERVER_ENV, "GORU_CACHE_DIR": cache}, "goru-cold-start")
    try:
        first_run = None
        while first_run is None:
            if p.poll() is not None:
                raise SystemExit(f"server exited ({p.returncode}) during cold start")
            try:
                if run_ok(*request(port, "POST", "/run", BODIES["python"], timeout=120)):
                    first_run = (time.monotonic() - t0) * 1e3
                    break
            except OSError:
                pass  # not listening yet
            time.sleep(0.001)
        # With an empty cache python-sci's snapshot is made and compiled first
        # (about 3 minutes on 2 cores).
        wait_until(p, "/readyz", lambda: readyz(port)[0] == 200, timeout=900, pause=0.001)
        return first_run, (time.monotonic() - t0) * 1e3
    finally:
        stop(p)


# ------------------------------------------------------------------- report

def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": cpu, "kernel": platform.release(),
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}


def ms(v):
    return "-" if v is None else f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def num(v, spec):
    return "n/a" if v is None else format(v, spec)


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


MCP_PAIR = (("goru /run (beside MCP)", "/run", "run.lua"), ("goru MCP run_code", "/mcp", "mcp.lua"))


def mcp_summary(points):
    """Medians over the rounds of the MCP-beside-/run points, and MCP / /run ratios."""
    out = {}
    for conns in (1, 8):
        row = {}
        for target, _, _ in MCP_PAIR:
            mine = [q for q in points if q["target"] == target and q["concurrency"] == conns and "round" in q]
            row[target] = {k: statistics.median(q[k] for q in mine)
                           for k in ("p50_ms", "runs_per_s", "cpu_ms_per_request")}
        run, mcp = (row[t] for t, _, _ in MCP_PAIR)
        row["p50_mcp_over_run"] = mcp["p50_ms"] / run["p50_ms"] if run["p50_ms"] else None
        row["cpu_mcp_minus_run_ms"] = mcp["cpu_ms_per_request"] - run["cpu_ms_per_request"]
        out[f"c{conns}"] = row
    return out


def report(s):
    L = []
    L.append(f"### goru load benchmark ({s['date']})\n")
    m, g = s["machine"], s["goru"]
    L.append(f"- machine: {m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}, "
             f"load average {' '.join(m['loadavg_start'])} at start, {' '.join(m['loadavg_end'])} at end")
    L.append(f"- goru: commit {g['commit']}{' + uncommitted changes' if g['dirty'] else ''}, "
             f"binary sha256 {g['binary_sha256'][:12]}")
    L.append(f"- command: `{s['command']}`; server: `{s['server_command']}`")
    L.append(f"- wrk {s['settings']['duration_s']} s per point after {s['settings']['warmup_s']} s warm-up "
             f"per language; body `{{\"code\": \"print(1+1)\"}}` (+ `\"language\": \"python3.12\"`); "
             "runs/s counts only 200s whose body says status ok and stdout `2\\n`\n")
    rs = s["reset"]
    L.append(f"- engine slot reset in effect: `{rs['strategy']}`, keep_resident_mb {rs['keep_resident_mb']} "
             "(`[engine]` in config/goru.toml)\n")
    L.append("| target | language | conns | runs/s | p50 ms | p90 ms | p99 ms | CPU ms/req | errors |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for p in s["points"]:
        e = p["errors"]
        err = "0" if p["errors_total"] == 0 else f"**{p['errors_total']}** (" + ", ".join(
            f"{k}={v}" for k, v in e.items() if v not in (0, "-")) + ")"
        cpu = p.get("cpu_ms_per_request")
        L.append(f"| {p['target']} | {p['language']} | {p['concurrency']} | {p['runs_per_s']:.1f} | "
                 f"{ms(p.get('p50_ms'))} | {ms(p.get('p90_ms'))} | {ms(p.get('p99_ms'))} | "
                 f"{'-' if cpu is None else f'{cpu:.2f}'} | {err} |")
    r = s["ratios"]
    L.append("")
    L.append(f"- python3.12 / python, p50 latency at c=1: **{num(r['p50_c1_python312_over_python'], '.1f')}×**")
    L.append(f"- python3.12 / python, throughput at c=8: {num(r['throughput_c8_python312_over_python'], '.3f')} "
             f"(python does {num(r['throughput_c8_python_over_python312'], '.1f')}× the runs/s)")
    L.append(f"- native subprocess / goru python, p50 at c=1: {num(r['p50_c1_native_over_python'], '.1f')}×; "
             f"goru python / native, throughput at c=8: {num(r['throughput_c8_python_over_native'], '.1f')}×")
    L.append(f"- pandas (`{PANDAS[0]}`): native subprocess / goru python-sci, p50 at c=1: "
             f"**{num(r['pandas_p50_c1_native_over_python_sci'], '.1f')}×**; python-sci / native, throughput "
             f"at c=8: {num(r['pandas_throughput_c8_python_sci_over_native'], '.1f')}×\n")
    L.append("| MCP `run_code` beside `/run`, `print(1+1)` in python (medians of 2 alternating rounds) "
             "| p50 ms | runs/s | server CPU ms per request |")
    L.append("|---|---:|---:|---:|")
    for conns in (1, 8):
        row = s["mcp"][f"c{conns}"]
        for target, _, _ in MCP_PAIR:
            q = row[target]
            L.append(f"| {target}, c={conns} | {ms(q['p50_ms'])} | {q['runs_per_s']:.0f} | "
                     f"{q['cpu_ms_per_request']:.2f} |")
    L.append(f"\n- MCP / /run p50 at c=1: {num(s['mcp']['c1']['p50_mcp_over_run'], '.2f')}×; "
             f"MCP's extra server CPU per request: {s['mcp']['c1']['cpu_mcp_minus_run_ms']:.2f} ms (c=1), "
             f"{s['mcp']['c8']['cpu_mcp_minus_run_ms']:.2f} ms (c=8)\n")
    c = s["cold_start_ms"]
    L.append("| cold start (default config: precompile python, python3.12, python-sci) | first POST /run ok | /readyz 200 |")
    L.append("|---|---:|---:|")
    L.append(f"| empty disk cache (compiles every guest, makes python-sci's snapshot) | {ms(c['empty_cache_first_run'])} ms | {ms(c['empty_cache_ready'])} ms |")
    L.append(f"| warm disk cache (median of {len(c['warm_cache_first_run_all'])} starts; "
             f"min {ms(min(c['warm_cache_first_run_all']))}, max {ms(max(c['warm_cache_first_run_all']))}) "
             f"| {ms(c['warm_cache_first_run'])} ms | {ms(c['warm_cache_ready'])} ms |\n")
    mm = s["memory_kib"]
    L.append("| resident memory of the goru process | RSS MiB | PSS MiB |")
    L.append("|---|---:|---:|")
    L.append(f"| idle, after /readyz and a full pool ({mm['idle_pool_size']} instances) | {mib(mm['idle']['rss_kib'])} | {mib(mm['idle']['pss_kib'])} |")
    L.append(f"| peak during python c=8 | {mib(mm['load_c8_peak']['rss_kib'])} | {mib(mm['load_c8_peak']['pss_kib'])} |")
    L.append(f"| peak during python c=64 | {mib(mm['load_c64_peak']['rss_kib'])} | {mib(mm['load_c64_peak']['pss_kib'])} |")
    L.append(f"| {AFTER_LOAD_S} s after python c=64 stopped | {mib(mm['after_c64_30s']['rss_kib'])} | {mib(mm['after_c64_30s']['pss_kib'])} |")
    L.append(f"| peak during python-sci pandas c=8 | {mib(mm['load_c8_peak_python_sci']['rss_kib'])} | {mib(mm['load_c8_peak_python_sci']['pss_kib'])} |")
    L.append(f"| idle again after all the goru load points | {mib(mm['idle_after_load']['rss_kib'])} | {mib(mm['idle_after_load']['pss_kib'])} |")
    L.append(f"| idle, `--pool-size 0` | {mib(mm['pool_0']['rss_kib'])} | {mib(mm['pool_0']['pss_kib'])} |")
    L.append(f"| idle, `--pool-size 16` | {mib(mm['pool_16']['rss_kib'])} | {mib(mm['pool_16']['pss_kib'])} |")
    L.append(f"| per pooled instance ((16 − 0) / 16) | {mib(mm['per_pooled_instance']['rss_kib'])} | {mib(mm['per_pooled_instance']['pss_kib'])} |\n")
    L.append("Per pooled instance: what one pre-instantiated `python` sandbox keeps resident "
             "while it waits: the pages of its linear memory it touched (copy-on-write from the "
             "shared snapshot image), its tables, its wasmtime store and WASI context, and "
             "allocator overhead. The compiled code is mapped once for the whole process and "
             "is not in it. RSS counts every mapping of a shared image page again; PSS counts a "
             "page once however often it is mapped, so PSS is the closer measure of real cost. "
             "Both servers are measured before any run; after load the process keeps more "
             "(see the idle-after-load row: allocator arenas, slots that ran a guest).\n")
    L.append("Goals (issue 14's first; ratios and CPU decide, absolute times depend on the machine):\n")
    L.append("| target | wanted | measured | |")
    L.append("|---|---|---|---|")
    for t in s["targets"]:
        L.append(f"| {t['name']} | {t['wanted']} | {t['measured']} | {'met' if t['met'] else '**MISSED**'} |")
    return "\n".join(L)


# --------------------------------------------------------------------- main

def main():
    os.makedirs(os.path.join(OUT, "logs"), exist_ok=True)
    for f in os.listdir(os.path.join(OUT, "logs")):
        os.remove(os.path.join(OUT, "logs", f))
    # Benchmark a private copy: other people rebuilding target/release/goru
    # mid-run would otherwise mix two binaries in one report.
    binary = os.path.join(OUT, "goru")
    shutil.copy2(os.path.join(ROOT, "target", "release", "goru"), binary)
    # A fresh compiled-guest cache: the first start must compile (cold start).
    cache = os.path.join(OUT, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(cache)
    s = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "goru": {"commit": sh("git", "rev-parse", "--short", "HEAD"),
                 "dirty": bool(sh("git", "status", "--porcelain", "--untracked-files=no")),
                 "binary_sha256": hashlib.sha256(open(binary, "rb").read()).hexdigest()},
        "command": "make bench-load" if os.environ.get("MAKELEVEL") else " ".join(["python3", *sys.argv]),
        "server_command": " ".join(f"{k}={v}" for k, v in SERVER_ENV.items())
                          + " target/release/goru serve --listen 127.0.0.1:PORT --config config/goru.toml"
                          + " (run from a copy, build/bench/goru)",
        "settings": {"duration_s": DURATION, "warmup_s": WARMUP, "server_env": SERVER_ENV},
        "points": [],
    }
    try:
        print("cold start, empty cache (compiles every guest) ...", file=sys.stderr)
        first, ready = cold_start(binary, cache)
        print("cold start, warm cache ...", file=sys.stderr)
        warm = [cold_start(binary, cache) for _ in range(WARM_STARTS)]
        s["cold_start_ms"] = {
            "empty_cache_first_run": first, "empty_cache_ready": ready,
            "warm_cache_first_run": statistics.median(w[0] for w in warm),
            "warm_cache_ready": statistics.median(w[1] for w in warm),
            "warm_cache_first_run_all": [w[0] for w in warm],
        }

        print("goru under load ...", file=sys.stderr)
        p, port = start_goru(binary, cache)
        time.sleep(2)
        idle = memory_median(p.pid)
        pool_size = readyz(port)[1]["pool"]["size"]
        s["reset"] = reset_strategy(port)
        peaks, after_c64 = {}, None
        for language in ("python", "python3.12"):
            wrk(port, language, 8, WARMUP)  # unreported: first runs, pool refill, caches
            wait_idle(p.pid)
            for conns in (1, 8, 64):
                print(f"  {language} c={conns}", file=sys.stderr)
                sampler = PeakMemory(p.pid) if language == "python" else None
                if sampler:
                    sampler.start()
                cpu0 = cpu_seconds(p.pid)
                point = wrk(port, language, conns, DURATION)
                point["cpu_ms_per_request"] = 1000 * (cpu_seconds(p.pid) - cpu0) / max(point["ok"], 1)
                if sampler:
                    sampler.stopping.set()
                    sampler.join()
                    peaks[conns] = sampler.peak
                s["points"].append({"target": "goru", "language": language, "concurrency": conns, **point})
                wait_idle(p.pid)
                if (language, conns) == ("python", 64):
                    # Does the memory come back once the load stops?
                    time.sleep(max(0.0, AFTER_LOAD_S - 0.5))
                    after_c64 = memory(p.pid)
        peak = peaks[8]
        # A session cell: the same print(1+1), in an interpreter kept between
        # cells (cells of one session run one at a time, so c=1).
        status, body = request(port, "POST", "/sessions", body=b'{"ttl_seconds": 600}')
        if status != 201:
            raise SystemExit(f"could not open a session: {status} {body!r}")
        cell_path = f"/sessions/{json.loads(body)['session_id']}/run"
        wrk(port, "python", 1, WARMUP, path=cell_path)
        print("  python session cell c=1", file=sys.stderr)
        point = wrk(port, "python", 1, DURATION, path=cell_path)
        s["points"].append({"target": "goru session cell", "language": "python", "concurrency": 1, **point})
        wait_idle(p.pid)
        # MCP beside /run: the same print(1+1) as a run_code tool call on
        # /mcp (scripts/bench/mcp.lua), alternating with /run in two rounds
        # so both see the same machine, with the server's CPU per request.
        wrk(port, "python", 8, WARMUP, path="/mcp", script="mcp.lua")
        wait_idle(p.pid)
        for rnd in (1, 2):
            for conns in (1, 8):
                for target, path, script in MCP_PAIR:
                    print(f"  {target} c={conns} round {rnd}", file=sys.stderr)
                    cpu0 = cpu_seconds(p.pid)
                    point = wrk(port, "python", conns, DURATION, path=path, script=script)
                    point["cpu_ms_per_request"] = 1000 * (cpu_seconds(p.pid) - cpu0) / max(point["ok"], 1)
                    s["points"].append({"target": target, "language": "python", "concurrency": conns,
                                        "round": rnd, **point})
                    wait_idle(p.pid)
        # python-sci, pooled beside python in the same server.
        wrk(port, "python-sci", 8, WARMUP, workload=PANDAS)
        wait_idle(p.pid)
        sci_peak = None
        for conns in (1, 8):
            print(f"  python-sci pandas c={conns}", file=sys.stderr)
            sampler = PeakMemory(p.pid) if conns == 8 else None
            if sampler:
                sampler.start()
            point = wrk(port, "python-sci", conns, DURATION, workload=PANDAS)
            if sampler:
                sampler.stopping.set()
                sampler.join()
                sci_peak = sampler.peak
            s["points"].append({"target": "goru pandas", "language": "python-sci", "concurrency": conns, **point})
            wait_idle(p.pid)
        after_load = memory_median(p.pid)  # does the memory come back?
        stop(p)

        print("native python3 subprocess per request ...", file=sys.stderr)
        port = free_port()
        n = start([NATIVE_PYTHON, os.path.join(HERE, "native_server.py"), str(port)], log="native")
        wait_until(n, "the native server", lambda: request(port, "GET", "/readyz", timeout=5)[0] == 200)
        wrk(port, "python", 8, WARMUP)
        for conns in (1, 8):
            print(f"  native c={conns}", file=sys.stderr)
            point = wrk(port, "python", conns, DURATION)
            s["points"].append({"target": f"native `python{platform.python_version()} -c`",
                                "language": "-", "concurrency": conns, **point})
        for conns in (1, 8):
            print(f"  native pandas c={conns}", file=sys.stderr)
            point = wrk(port, "python", conns, DURATION, workload=PANDAS)
            s["points"].append({"target": "native pandas", "language": "-", "concurrency": conns, **point})
        stop(n)

        print("memory per pooled instance ...", file=sys.stderr)
        pools = {}
        for size in (0, 16):
            p, _ = start_goru(binary, cache, "--pool-size", str(size), log=f"goru-pool-{size}")
            time.sleep(3)  # let the refill task and allocator settle
            pools[size] = memory_median(p.pid)
            stop(p)
    finally:
        stop_all()
        shutil.rmtree(cache, ignore_errors=True)

    per = {k: (pools[16][k] - pools[0][k]) / 16 if pools[0][k] is not None else None for k in pools[0]}
    s["memory_kib"] = {"idle": idle, "idle_pool_size": pool_size, "load_c8_peak": peak,
                       "load_c64_peak": peaks[64], "after_c64_30s": after_c64,
                       "load_c8_peak_python_sci": sci_peak,
                       "idle_after_load": after_load,
                       "pool_0": pools[0], "pool_16": pools[16], "per_pooled_instance": per}
    s["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]

    pt = {(q["target"] if q["target"].startswith(("goru", "native pandas")) else "native", q["language"],
           q["concurrency"]): q
          for q in s["points"] if q["target"] != "goru session cell" and "round" not in q}
    s["mcp"] = mcp_summary(s["points"])
    sci1, sci8 = pt[("goru pandas", "python-sci", 1)], pt[("goru pandas", "python-sci", 8)]
    nat1, nat8 = pt[("native pandas", "-", 1)], pt[("native pandas", "-", 8)]
    py1, py8 = pt[("goru", "python", 1)], pt[("goru", "python", 8)]
    def div(a, b):
        return a / b if b else None  # a point with no answers must not hide the report
    s["ratios"] = {
        "p50_c1_python312_over_python": div(pt[("goru", "python3.12", 1)]["p50_ms"], py1["p50_ms"]),
        "throughput_c8_python312_over_python": div(pt[("goru", "python3.12", 8)]["runs_per_s"], py8["runs_per_s"]),
        "throughput_c8_python_over_python312": div(py8["runs_per_s"], pt[("goru", "python3.12", 8)]["runs_per_s"]),
        "p50_c1_native_over_python": div(pt[("native", "-", 1)]["p50_ms"], py1["p50_ms"]),
        "throughput_c8_python_over_native": div(py8["runs_per_s"], pt[("native", "-", 8)]["runs_per_s"]),
        "pandas_p50_c1_native_over_python_sci": div(nat1["p50_ms"], sci1["p50_ms"]),
        "pandas_throughput_c8_python_sci_over_native": div(sci8["runs_per_s"], nat8["runs_per_s"]),
    }
    sci_ratio = s["ratios"]["pandas_p50_c1_native_over_python_sci"]
    warm_ms = s["cold_start_ms"]["warm_cache_first_run"]
    py312_1 = pt[("goru", "python3.12", 1)]
    nat_1, nat_8 = pt[("native", "-", 1)], pt[("native", "-", 8)]
    cpu = max(py1["cpu_ms_per_request"], py8["cpu_ms_per_request"])
    rss64, rss_after = peaks[64]["rss_kib"] / 1024, after_c64["rss_kib"] / 1024
    # PSS beside RSS: RSS counts a page of the shared snapshot image once for
    # every slot that maps it; PSS counts it once.
    pss64, pss_after = (mib(peaks[64]["pss_kib"]), mib(after_c64["pss_kib"]))
    boot_ratio, native_ratio = div(py312_1["p50_ms"], py1["p50_ms"]), div(nat_1["p50_ms"], py1["p50_ms"])
    native_tput = div(py8["runs_per_s"], nat_8["runs_per_s"])
    # Issue 14's goals first (ratios and CPU decide: absolute times depend on
    # the machine), then the earlier issues' targets that still hold.
    s["targets"] = [
        {"name": "python3.12 boot per run / python, p50 at c=1", "wanted": "≥ 50×",
         "measured": f"{num(boot_ratio, '.1f')}×", "met": boot_ratio is not None and boot_ratio >= 50},
        {"name": "native `python3 -c` / python, p50 at c=1", "wanted": "≥ 40×",
         "measured": f"{num(native_ratio, '.1f')}×", "met": native_ratio is not None and native_ratio >= 40},
        {"name": "python / native, throughput at c=8", "wanted": "≥ 30×",
         "measured": f"{num(native_tput, '.1f')}×", "met": native_tput is not None and native_tput >= 30},
        {"name": "server CPU per python run (worse of c=1, c=8)", "wanted": "< 1.5 ms",
         "measured": f"{cpu:.2f} ms (c=1 {py1['cpu_ms_per_request']:.2f}, c=8 {py8['cpu_ms_per_request']:.2f})",
         "met": cpu < 1.5},
        {"name": "python p50 at c=1 (where the machine allows)", "wanted": "< 1.0 ms",
         "measured": f"{ms(py1['p50_ms'])} ms", "met": py1["p50_ms"] < 1.0},
        {"name": "python throughput at c=8 (where the machine allows)", "wanted": "≥ 1000 runs/s",
         "measured": f"{py8['runs_per_s']:.0f} runs/s", "met": py8["runs_per_s"] >= 1000},
        {"name": "RSS at peak, python c=64", "wanted": "< 250 MiB",
         "measured": f"{rss64:.0f} MiB (PSS {pss64})", "met": rss64 < 250},
        {"name": f"RSS {AFTER_LOAD_S} s after the c=64 load", "wanted": "< 150 MiB",
         "measured": f"{rss_after:.0f} MiB (PSS {pss_after})", "met": rss_after < 150},
        {"name": "python-sci pandas p50 at c=1", "wanted": "< 30 ms", "measured": f"{ms(sci1['p50_ms'])} ms",
         "met": sci1["p50_ms"] < 30},
        {"name": "native pandas subprocess / python-sci p50 at c=1", "wanted": "≥ 10×",
         "measured": f"{num(sci_ratio, '.1f')}×", "met": sci_ratio is not None and sci_ratio >= 10},
        {"name": "cold start, warm cache (first run)", "wanted": "≤ 300 ms",
         "measured": f"{ms(warm_ms)} ms", "met": warm_ms <= 300},
    ]
    s["errors_total"] = sum(q["errors_total"] for q in s["points"])

    text = report(s)
    if s["errors_total"]:
        banner = (f"\n!!! {s['errors_total']} FAILED REQUESTS: these numbers include errors "
                  f"(see the errors column and {OUT}/logs/wrk.log) !!!\n")
        text = banner + "\n" + text + "\n" + banner
    print(text)
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(s, f, indent=2)
    print(f"\nJSON summary: {os.path.relpath(os.path.join(OUT, 'summary.json'), ROOT)}")
    return 1 if s["errors_total"] else 0


if __name__ == "__main__":
    def _exit(signum, _frame):
        print(f"interrupted by signal {signum}; stopping the servers", file=sys.stderr)
        raise SystemExit(128 + signum)  # runs the `finally` that stops the servers
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)
    sys.exit(main())
