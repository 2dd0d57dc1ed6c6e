#!/usr/bin/env bash
# Side-by-side load comparison of goru builds: `print(1+1)` over POST /run,
# each build served in turn (never two at once), several rounds alternating,
# so that drifts of a shared machine hit every build alike.
#
#   scripts/bench/ab.sh old=/path/goru:/path/runtimes new=target/release/goru:build/runtimes
#
# Env: ROUNDS (4), CONNS ("1 8"), SECONDS_PER_POINT (10). Prints one line per
# point: requests, runs/s, p50, and CPU per request from /proc/PID/stat
# (utime+stime of the server process, so wrk's own CPU is not counted).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lua="$here/run.lua"
rounds=${ROUNDS:-4}
conns_list=${CONNS:-"1 8"}
secs=${SECONDS_PER_POINT:-10}
ticks=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

point() { # name binary runtimes port conns
    local name=$1 bin=$2 rt=$3 port=$4 conns=$5
    GORU_RUNTIME_DIR=$rt GORU_CACHE_DIR=${TMPDIR:-/tmp}/goru-ab-cache-$name \
        "$bin" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 1 1200); do curl -sf "localhost:$port/readyz" >/dev/null && break; sleep 0.1; done
    wrk -t1 -c8 -d3s -s "$lua" "http://127.0.0.1:$port/run" >/dev/null 2>&1 # warm the pool
    sleep 1
    local c0 out c1
    c0=$(cpu_ticks "$pid")
    out=$(wrk -t"$([ "$conns" = 1 ] && echo 1 || echo 2)" -c"$conns" -d"${secs}s" --latency \
        -s "$lua" "http://127.0.0.1:$port/run" 2>&1)
    sleep 1
    c1=$(cpu_ticks "$pid")
    local reqs p50 rps
    reqs=$(echo "$out" | grep -o 'ok=[0-9]*' | cut -d= -f2)
    p50=$(echo "$out" | awk '/ 50%/{print $2}')
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    python3 -c "print(f'$name c=$conns ok=$reqs runs/s=$rps p50=$p50 cpu_ms/req={($c1 - $c0) * 1000 / $ticks / max($reqs, 1):.3f}')"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

[ $# -ge 2 ] || { sed -n 2,11p "$0"; exit 2; }
for round in $(seq 1 "$rounds"); do
    for conns in $conns_list; do
        port=18100
        for spec in "$@"; do
            name=${spec%%=*}
            rest=${spec#*=}
            port=$((port + 1))
            point "$name" "${rest%%:*}" "${rest#*:}" "$port" "$conns"
        done
    done
done
