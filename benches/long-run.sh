#!/usr/bin/env bash
# firedrill over a long run (BENCHMARKS.md, section 4): does anything grow?
#
# Two processes side by side for DURATION seconds:
# - `firedrill serve` running a short local drill every 5 s (benches/fixtures/long-run.yaml:
#   one demo replica frozen for 500 ms), its pages and /metrics read at every sample;
# - `firedrill proxy` carrying paced round trips (RATE per second over a pool of 20
#   connections, each replaced after 50 round trips or on an error) to an echo server,
#   while a toxic is swapped every second (latency, bandwidth, slicer, limit_data,
#   reset_peer, timeout, slow_close, then none, round and round).
# Every SAMPLE_EVERY seconds it records, for each: resident memory (VmRSS), open file
# descriptors, threads, child processes, and for serve the drill's workload processes left
# outside it (orphans) or stopped. At the end it prints, per figure, the median of the first
# ten minutes after a two-minute warm-up against the median of the last ten minutes, the
# least and the most; then the drills by status and the load's totals.
#
# Usage: benches/long-run.sh
# Environment:
#   DURATION      seconds (default 3600)
#   SAMPLE_EVERY  seconds between samples (default 10)
#   RATE          proxied round trips per second (default 200)
#   FIREDRILL     binary to measure (default: built here, in BENCH_TARGET)
#   BENCH_TARGET  cargo target dir for the builds (default $REPO/target)
#   PROFILE       cargo profile of the builds (default release; `dev` takes minutes
#                 instead of the release build's fat LTO, and shows growth as well)
#   SAMPLES       also copy the samples (tab-separated) to this file
#   KEEP_TMP      set to keep the run folder (history database, results, logs)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DURATION=${DURATION:-3600}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
RATE=${RATE:-200}
BENCH_TARGET=${BENCH_TARGET:-$REPO/target}
PROFILE=${PROFILE:-release}
command -v jq >/dev/null || { echo "needs jq (apt-get install jq)" >&2; exit 2; }
command -v curl >/dev/null || { echo "needs curl (apt-get install curl)" >&2; exit 2; }

build_proxy_bench "$PROFILE"

# The schedule names its experiment relative to itself: both are copied into the run folder,
# the experiment's `{firedrill}` is the binary under test.
mkdir -p "$TMP/serve/results"
cp "$FIXTURES/long-run.yaml" "$FIXTURES/long-run-schedule.yaml" "$TMP/serve/"

setsid "$FIREDRILL" serve --schedules "$TMP/serve/long-run-schedule.yaml" \
    --database "$TMP/serve/history.db" --results "$TMP/serve/results" \
    --listen 127.0.0.1:0 >"$TMP/serve.log" 2>&1 &
SERVE_PID=$!
track "$SERVE_PID"
SERVE_URL=$(wait_line "$TMP/serve.log" 'listening on http://' | grep -o 'http://[0-9.:]*')

"$BENCH" echo >"$TMP/echo.log" 2>&1 &
ECHO_PID=$!
track "$ECHO_PID"
UPSTREAM=$(wait_line "$TMP/echo.log" '^listening on ' | awk '{ print $3 }')

setsid "$FIREDRILL" proxy --admin 127.0.0.1:0 >"$TMP/proxy.log" 2>&1 &
PROXY_PID=$!
track "$PROXY_PID"
ADMIN=$(wait_line "$TMP/proxy.log" '^admin API on ' | awk '{ print $4 }')
PROXIED=$("$BENCH" create-proxy --admin "$ADMIN" --name long --upstream "$UPSTREAM")

echo "firedrill: $FIREDRILL ($("$FIREDRILL" --version), $PROFILE profile), commit $(git -C "$REPO" rev-parse --short HEAD)"
echo "host: $(nproc) CPUs, $(uname -sr); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "serve $SERVE_URL (pid $SERVE_PID); proxy $PROXIED, admin $ADMIN (pid $PROXY_PID); $DURATION s, a sample every $SAMPLE_EVERY s"

"$BENCH" churn --addr "$PROXIED" --secs "$DURATION" --rate "$RATE" >"$TMP/churn.out" 2>"$TMP/churn.err" &
CHURN_PID=$!
track "$CHURN_PID"

# A toxic swapped every second, as long as the load runs.
toxics=(
    '{"name":"t","type":"latency","stream":"downstream","attributes":{"latency":20,"jitter":5}}'
    '{"name":"t","type":"bandwidth","stream":"downstream","attributes":{"rate":200}}'
    '{"name":"t","type":"slicer","stream":"upstream","attributes":{"average_size":64,"size_variation":32,"delay":100}}'
    '{"name":"t","type":"limit_data","stream":"downstream","attributes":{"bytes":20000}}'
    '{"name":"t","type":"reset_peer","stream":"upstream","attributes":{"timeout":200}}'
    '{"name":"t","type":"timeout","stream":"upstream","attributes":{"timeout":300}}'
    '{"name":"t","type":"slow_close","stream":"downstream","attributes":{"delay":100}}'
    ''
)
(
    i=0 swaps=0 failed=0
    while kill -0 "$CHURN_PID" 2>/dev/null; do
        curl -s -o /dev/null -X DELETE "$ADMIN/proxies/long/toxics/t" || true
        body=${toxics[i % ${#toxics[@]}]}
        if [[ -n $body ]]; then
            code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
                --data "$body" "$ADMIN/proxies/long/toxics" || echo 000)
            if [[ $code == 200 ]]; then swaps=$((swaps + 1)); else failed=$((failed + 1)); fi
        fi
        i=$((i + 1))
        echo "$swaps $failed" >"$TMP/toxics.count"
        sleep 1
    done
) &
SWAP_PID=$!
track "$SWAP_PID"

# One line per process and sample: seconds, process, rss KiB, fds, threads, children,
# orphans, stopped.
children() { # pid: its descendants
    local pid=$1 child
    for child in $(pgrep -P "$pid" 2>/dev/null); do
        echo "$child"
        children "$child"
    done
}
sample() { # label pid elapsed
    local label=$1 pid=$2 at=$3 rss threads fds kids orphans=0 stopped=0
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status")
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    kids=$(children "$pid" | wc -l)
    if [[ $label == serve ]]; then
        # The drill's workload (`demo serve --name longrun-web`): under serve while a drill
        # runs, nowhere after; one outside serve's tree is an orphan, one in state T stopped.
        local mine p state
        mine=" $(children "$pid" | tr '\n' ' ') "
        for p in $(pgrep -f -- '--name longrun-web' || true); do
            [[ $mine == *" $p "* ]] || orphans=$((orphans + 1))
            state=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null || echo gone)
            [[ $state == T ]] && stopped=$((stopped + 1))
        done
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$at" "$label" "$rss" "$fds" "$threads" "$kids" "$orphans" "$stopped"
}

OUT="$TMP/samples.tsv"
printf 'seconds\tprocess\trss_kib\tfds\tthreads\tchildren\torphans\tstopped\n' >"$OUT"
start=$SECONDS
page_errors=0
while ((SECONDS - start < DURATION)); do
    at=$((SECONDS - start))
    kill -0 "$SERVE_PID" 2>/dev/null || { echo "serve ended early:" >&2; tail -20 "$TMP/serve.log" >&2; exit 1; }
    kill -0 "$PROXY_PID" 2>/dev/null || { echo "the proxy ended early:" >&2; tail -20 "$TMP/proxy.log" >&2; exit 1; }
    for path in / /metrics /healthz; do
        curl -sf -o /dev/null --max-time 5 "$SERVE_URL$path" || page_errors=$((page_errors + 1))
    done
    sample serve "$SERVE_PID" "$at" >>"$OUT"
    sample proxy "$PROXY_PID" "$at" >>"$OUT"
    printf '\r%d/%d s' "$at" "$DURATION" >&2
    sleep "$SAMPLE_EVERY"
done
echo >&2
wait "$CHURN_PID" || true
untrack "$CHURN_PID"
[[ -n ${SAMPLES:-} ]] && cp "$OUT" "$SAMPLES"

echo
echo "Per process and figure: the median of the first ten minutes after a two-minute warm-up"
echo "(or of the first third of the run when it is shorter), of the last ten minutes (or"
echo "third), and the least and the most over the whole run."
echo
awk -F'\t' -v dur="$DURATION" '
    NR == 1 { for (i = 3; i <= 8; i++) name[i] = $i; next }
    function median(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        p = $2; procs[p] = 1
        span = dur >= 1800 ? 600 : int(dur / 3); warm = dur >= 1800 ? 120 : 0
        for (i = 3; i <= 8; i++) {
            k = p SUBSEP i
            if (!(k in lo) || $i < lo[k]) lo[k] = $i
            if (!(k in hi) || $i > hi[k]) hi[k] = $i
            if ($1 >= warm && $1 < warm + span) early[k, ++ne[k]] = $i
            if ($1 >= dur - span) late[k, ++nl[k]] = $i
        }
    }
    END {
        printf "| process | figure | first (median) | last (median) | least | most |\n|---|---|---|---|---|---|\n"
        for (p in procs) for (i = 3; i <= 8; i++) {
            k = p SUBSEP i
            if (p == "proxy" && i >= 7) continue
            delete a; for (j = 1; j <= ne[k]; j++) a[j] = early[k, j]; e = median(a, ne[k])
            delete a; for (j = 1; j <= nl[k]; j++) a[j] = late[k, j]; l = median(a, nl[k])
            printf "| %s | %s | %s | %s | %s | %s |\n", p, name[i], e, l, lo[k], hi[k]
        }
    }' "$OUT"
echo
echo "Drills run by serve, by status:"
"$FIREDRILL" history --database "$TMP/serve/history.db" --limit 100000 --format json |
    jq -r '.runs | group_by(.status) | map("  \(.[0].status): \(length)") | .[]'
echo "serve's pages (/, /metrics, /healthz) that failed to answer: $page_errors"
echo "proxy load: $(cat "$TMP/churn.out")"
read -r swaps failed <"$TMP/toxics.count"
echo "toxics swapped in: $swaps (refused: $failed)"
echo "results folder: $(du -sh "$TMP/serve/results" | cut -f1), history database: $(du -h "$TMP/serve/history.db" | cut -f1)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
