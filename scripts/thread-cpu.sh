#!/usr/bin/env bash
# Host CPU per webhook, by thread, under load: runs `loadgen` (wasm path)
# for 14 s, closed-loop or paced, and over a 5 s window in its middle reads
# each host thread's scheduler figures (/proc/<pid>/task/*/schedstat: time
# on a CPU, and time runnable but waiting for one) and
# `webhooks_accepted_total` (/metrics). Prints, per thread name (threads of
# one name added up): µs of CPU per accepted webhook, and the share of the
# window spent running and spent waiting for a core.
#
# usage: scripts/thread-cpu.sh <handover-host binary> <loadgen binary> [in flight, default 128] [events/s, default closed-loop]
set -euo pipefail
bin=${1:?host binary}; loadgen=${2:?loadgen binary}; inflight=${3:-128}; rate=${4:-}
log=$(mktemp)
HANDOVER_BIN=$bin "$loadgen" --handovers 4000 --endpoints 4 --concurrency "$inflight" \
    ${rate:+--rate "$rate"} --seconds 14 --rounds 1 >"$log" 2>&1 &
driver=$!
sleep 7
pid=$(pgrep -f "$bin serve" | head -1)
port=$(ss -ltnp | grep "pid=$pid," | awk '{print $4}' | sed 's/.*://' | head -1)
snap() {
    curl -s -H "Authorization: Bearer bench-admin" "http://127.0.0.1:$port/metrics" |
        awk '/^webhooks_accepted_total/ {print "accepted", $2, 0}'
    for t in /proc/"$pid"/task/*; do
        # schedstat: ns on a CPU, ns runnable and waiting, time slices.
        read -r run wait _ <"$t/schedstat"
        echo "$(tr ' ' '_' <"$t/comm") $run $wait"
    done | awk '{r[$1] += $2; w[$1] += $3} END {for (k in r) print k, r[k], w[k]}'
}
t0=$(date +%s%N); a=$(snap); sleep 5; b=$(snap); t1=$(date +%s%N)
wait "$driver"
join <(sort <<<"$a") <(sort <<<"$b") | awk -v window=$((t1 - t0)) '
    $1 == "accepted" {n = $4 - $2; next}
    {run[$1] = $4 - $2; wait[$1] = $5 - $3}
    END {
        printf "webhooks in the window: %d\n", n
        printf "%-18s %12s %8s %8s\n", "thread", "us/webhook", "running", "waiting"
        for (k in run) if (run[k] > 0)
            printf "%-18s %12.1f %7.0f%% %7.0f%%\n", k, run[k] / 1e3 / n,
                run[k] * 100 / window, wait[k] * 100 / window
    }'
grep -E "^  wasm at" "$log" || true
rm -f "$log"
