#!/usr/bin/env bash
# Host CPU per webhook, by thread, at a closed-loop load: runs `loadgen`
# (wasm path) for 14 s, and over a 5 s window in its middle reads each host
# thread's CPU time (/proc/<pid>/task/*/stat) and `webhooks_accepted_total`
# (/metrics), then prints µs of CPU per accepted webhook per thread name.
#
# usage: scripts/thread-cpu.sh <handover-host binary> <loadgen binary> [in flight, default 128]
set -euo pipefail
bin=${1:?host binary}; loadgen=${2:?loadgen binary}; inflight=${3:-128}
log=$(mktemp)
HANDOVER_BIN=$bin "$loadgen" --handovers 4000 --endpoints 4 --concurrency "$inflight" \
    --seconds 14 --rounds 1 >"$log" 2>&1 &
driver=$!
sleep 7
pid=$(pgrep -f "$bin serve" | head -1)
port=$(ss -ltnp | grep "pid=$pid," | awk '{print $4}' | sed 's/.*://' | head -1)
snap() {
    curl -s -H "Authorization: Bearer bench-admin" "http://127.0.0.1:$port/metrics" |
        awk '/^webhooks_accepted_total/ {print "accepted", $2}'
    for t in /proc/"$pid"/task/*; do
        # utime and stime (clock ticks) follow the command name's parenthesis.
        read -r -a f <<<"$(sed 's/.*) //' "$t/stat")"
        echo "$(tr ' ' '_' <"$t/comm") $((f[11] + f[12]))"
    done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}'
}
a=$(snap); sleep 5; b=$(snap)
wait "$driver"
hz=$(getconf CLK_TCK)
join <(sort <<<"$a") <(sort <<<"$b") | awk -v hz="$hz" '
    $1 == "accepted" {n = $3 - $2; next}
    {d[$1] = $3 - $2}
    END {
        printf "webhooks in the window: %d\n", n
        for (k in d) if (d[k] > 0) printf "%-18s %6.1f us/webhook\n", k, d[k] * 1e6 / hz / n
    }'
grep -E "^  wasm at" "$log" || true
rm -f "$log"
