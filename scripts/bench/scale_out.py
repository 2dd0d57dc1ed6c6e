"""`make bench-load`, third part: goru replicas behind HAProxy
(docker/haproxy.cfg, as the compose scale-out profile runs it), side by
side in one run:

- `print(1+1)` straight to one replica, and through the balancer to one
  replica and to two;
- a KV-heavy run (`kv_set` + `kv_get` of a 100-byte value in a shared
  namespace) through the balancer to one and two replicas, with the memory
  and the Redis backends (a local redis-server, append-only file fsynced
  every second, as deployed).

Every point is wrk at c=8; the points alternate over two rounds (medians),
and CPU per request counts every process serving it (the replicas, HAProxy,
redis-server). This machine has two cores: two replicas share them, so a
second replica adds no cores here; the point is what the balancer and Redis
cost. Writes build/bench/scale_out.json and prints a markdown table.
Knobs: BENCH_DURATION seconds per wrk point (10), BENCH_WARMUP (2).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (the shared helpers: servers, wrk, CPU)

CONNS = 8
PLAIN = ("print(1+1)", "2\n")
KV = ("k = 'key-' + str(id(object()) % 512)\nkv_set(k, 'v' * 100)\nprint(len(kv_get(k)))", "100\n")
KV_POLICY = {"kv_namespace": "bench"}


def start_redis():
    port = load.free_port()
    data = tempfile.mkdtemp(prefix="goru-bench-redis-")
    p = load.start(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", data,
                    "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"], log="redis")
    load.wait_until(p, "redis", lambda: subprocess.run(
        ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG")
    return p, port


def start_replicas(binary, cache, backend, redis_port):
    # Only python is measured: loading the other runtimes (python-sci's
    # snapshot on an empty cache) would only delay the start.
    env = {"GORU_KV_BACKEND": backend, "GORU_KV_REDIS_URL": f"redis://127.0.0.1:{redis_port}",
           "GORU_SERVER_PRECOMPILE": '["python"]'}
    return [load.start_goru(binary, cache, log=f"replica-{backend}-{n}",
                            env={**env, "GORU_SESSIONS_REPLICA": f"goru-{n}"}) for n in (1, 2)]


def start_haproxy(first, second):
    port = load.free_port()
    env = {"LB_BIND": f"127.0.0.1:{port}", "GORU_1": f"127.0.0.1:{first}", "GORU_2": f"127.0.0.1:{second}"}
    p = load.start(["haproxy", "-db", "-f", os.path.join(load.ROOT, "docker", "haproxy.cfg")], env, log="haproxy")
    load.wait_until(p, "haproxy", lambda: load.readyz(port)[0] == 200)
    return p, port


def measured(pids, port, workload, policy):
    cpu0 = sum(load.cpu_seconds(pid) for pid in pids)
    point = load.wrk(port, "python", CONNS, load.DURATION, workload=workload, policy=policy)
    point["cpu_ms_per_request"] = 1000 * (sum(load.cpu_seconds(pid) for pid in pids) - cpu0) / max(point["ok"], 1)
    return point


def main():
    binary, cache = load.bench_setup()
    haproxy_version = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    redis, redis_port = start_redis()
    memory = start_replicas(binary, cache, "memory", redis_port)
    on_redis = start_replicas(binary, cache, "redis", redis_port)
    balancers = {}
    for name, pair in (("memory", memory), ("redis", on_redis)):
        (p1, port1), (p2, port2) = pair
        balancers[(name, 1)] = (start_haproxy(port1, port1), [p1.pid])
        balancers[(name, 2)] = (start_haproxy(port1, port2), [p1.pid, p2.pid])
    (direct_p, direct_port) = memory[0]
    points = [
        ("print(1+1), straight to one replica", None, direct_port, [direct_p.pid], PLAIN, None),
    ]
    for replicas in (1, 2):
        (lb, lb_port), pids = balancers[("memory", replicas)]
        points.append((f"print(1+1), balancer, {replicas} replica{'s' * (replicas > 1)}", None,
                       lb_port, pids + [lb.pid], PLAIN, None))
    for backend in ("memory", "redis"):
        for replicas in (1, 2):
            (lb, lb_port), pids = balancers[(backend, replicas)]
            extra = [redis.pid] if backend == "redis" else []
            points.append((f"kv_set + kv_get, {backend}, balancer, {replicas} replica{'s' * (replicas > 1)}",
                           backend, lb_port, pids + [lb.pid] + extra, KV, KV_POLICY))
    rounds = {name: [] for name, *_ in points}
    for _ in range(2):
        for name, _backend, port, pids, workload, policy in points:
            load.wrk(port, "python", CONNS, load.WARMUP, workload=workload, policy=policy)
            for pid in pids:
                load.wait_idle(pid)
            rounds[name].append(measured(pids, port, workload, policy))
    summary = {"machine": load.machine(), "commit": load.sh("git", "rev-parse", "--short", "HEAD"),
               "haproxy": haproxy_version, "redis": redis_version, "conns": CONNS,
               "duration_s": load.DURATION, "points": {}}
    print(f"\n{haproxy_version}; {redis_version}; wrk c={CONNS}, {load.DURATION} s per point, medians of 2 rounds")
    print("| target | runs/s | p50 | p99 | CPU/request | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, *_ in points:
        got = rounds[name]
        med = {k: statistics.median(r[k] for r in got)
               for k in ("runs_per_s", "p50_ms", "p99_ms", "cpu_ms_per_request")}
        med["errors"] = sum(r["errors_total"] for r in got)
        summary["points"][name] = {"median": med, "rounds": got}
        print(f"| {name} | {med['runs_per_s']:.0f} | {med['p50_ms']:.2f} ms | {med['p99_ms']:.2f} ms "
              f"| {med['cpu_ms_per_request']:.2f} ms | {med['errors']} |")
    with open(os.path.join(load.OUT, "scale_out.json"), "w") as f:
        json.dump(summary, f, indent=2)
    load.stop_all()


if __name__ == "__main__":
    try:
        main()
    finally:
        load.stop_all()
