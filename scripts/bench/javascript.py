"""`make bench-load`, second part: `console.log(1+1)` in goru's javascript,
`print(1+1)` in goru's python, and `node -e` as a subprocess per request (the
no-sandbox baseline, scripts/bench/native_server.py), side by side in one run.

The two goru targets run in one server and alternate (two rounds each) so
that both see the same machine; each point records the server's CPU per
request. Writes build/bench/javascript.json and prints a markdown table.
Knobs: BENCH_DURATION seconds per wrk point (10), BENCH_WARMUP (2).
"""

import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (the shared helpers: servers, wrk, CPU, memory)

JS = ("console.log(1+1)", "2\n")
PY = ("print(1+1)", "2\n")
TARGETS = [("goru javascript", "javascript", JS), ("goru python", "python", PY)]


def measured(pid, port, language, conns, workload):
    cpu0 = load.cpu_seconds(pid, children=True)
    point = load.wrk(port, language, conns, load.DURATION, workload=workload)
    point["cpu_ms_per_request"] = 1000 * (load.cpu_seconds(pid, children=True) - cpu0) / max(point["ok"], 1)
    return point


def main():
    binary, cache = load.bench_setup("cache-js")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    s = {"machine": load.machine(), "commit": load.sh("git", "rev-parse", "--short", "HEAD"),
         "duration_s": load.DURATION, "node": node, "points": []}
    try:
        # python-sci is not needed here: do not wait for its snapshot.
        p, port = load.start_goru(binary, cache, log="goru-js",
                                  env={"GORU_SERVER_PRECOMPILE": '["python", "javascript"]'})
        for _, language, workload in TARGETS:
            load.wrk(port, language, 8, load.WARMUP, workload=workload)
        load.wait_idle(p.pid)
        for rnd in (1, 2):
            for conns in (1, 8):
                for target, language, workload in TARGETS:
                    print(f"  {target} c={conns} round {rnd}", file=sys.stderr)
                    point = measured(p.pid, port, language, conns, workload)
                    s["points"].append({"target": target, "concurrency": conns, "round": rnd, **point})
                    load.wait_idle(p.pid)
        load.stop(p)

        port = load.free_port()
        n = load.start([load.NATIVE_PYTHON, os.path.join(load.HERE, "native_server.py"), str(port)],
                       log="native-node")
        load.wait_until(n, "the native server", lambda: load.request(port, "GET", "/readyz", timeout=5)[0] == 200)
        load.wrk(port, "javascript", 8, load.WARMUP, workload=JS)
        for conns in (1, 8):
            print(f"  node -e c={conns}", file=sys.stderr)
            point = measured(n.pid, port, "javascript", conns, JS)
            s["points"].append({"target": f"native `node -e` ({node})", "concurrency": conns, "round": 1, **point})
        load.stop(n)
    finally:
        load.stop_all()

    with open(os.path.join(load.OUT, "javascript.json"), "w") as f:
        json.dump(s, f, indent=2)  # the raw points, whatever happens below

    def median(target, conns, key):
        values = [q.get(key) for q in s["points"] if q["target"] == target and q["concurrency"] == conns]
        return statistics.median(values) if values and None not in values else None

    rows = [q["target"] for q in s["points"]]
    rows = list(dict.fromkeys(rows))
    table = {t: {c: {k: median(t, c, k) for k in ("p50_ms", "p99_ms", "runs_per_s", "cpu_ms_per_request")}
                 for c in (1, 8)} for t in rows}
    s["table"] = table
    js1, py1 = table["goru javascript"][1], table["goru python"][1]
    node1 = next(v for k, v in table.items() if k.startswith("native"))[1]
    node8 = next(v for k, v in table.items() if k.startswith("native"))[8]
    s["ratios"] = {
        "p50_c1_python_over_javascript": py1["p50_ms"] / js1["p50_ms"],
        "p50_c1_node_over_javascript": node1["p50_ms"] / js1["p50_ms"],
        "throughput_c8_javascript_over_node": table["goru javascript"][8]["runs_per_s"] / node8["runs_per_s"],
        "throughput_c8_javascript_over_python": table["goru javascript"][8]["runs_per_s"]
        / table["goru python"][8]["runs_per_s"],
    }
    with open(os.path.join(load.OUT, "javascript.json"), "w") as f:
        json.dump(s, f, indent=2)
    print(f"\n### javascript vs python vs node -e ({s['machine'].get('cpu', '?')}, commit {s['commit']}, "
          f"{load.DURATION} s per point, goru points the median of 2 alternating rounds)\n")
    print("| target | p50 c=1 | p99 c=1 | runs/s c=8 | p50 c=8 | server CPU per request (c=1 / c=8) |")
    print("|---|---|---|---|---|---|")
    for t in rows:
        one, eight = table[t][1], table[t][8]
        cpu = (f"{one['cpu_ms_per_request']:.2f} / {eight['cpu_ms_per_request']:.2f} ms"
               if one.get("cpu_ms_per_request") is not None else "-")
        print(f"| {t} | {one['p50_ms']:.2f} ms | {one['p99_ms']:.2f} ms | {eight['runs_per_s']:.0f} | "
              f"{eight['p50_ms']:.2f} ms | {cpu} |")
    r = s["ratios"]
    print(f"\n- python / javascript, p50 at c=1: {r['p50_c1_python_over_javascript']:.2f}×; "
          f"javascript / python, throughput at c=8: {r['throughput_c8_javascript_over_python']:.2f}×")
    print(f"- `node -e` / javascript, p50 at c=1: {r['p50_c1_node_over_javascript']:.1f}×; "
          f"javascript / `node -e`, throughput at c=8: {r['throughput_c8_javascript_over_node']:.1f}×")


if __name__ == "__main__":
    main()
