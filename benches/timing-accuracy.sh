#!/usr/bin/env bash
# Timing accuracy of firedrill's outage and time-to-recover figures against ground
# truth, at 10 ms and 100 ms probe intervals.
#
# Each run freezes one replica of the demo service for about 1 s (process-pause:
# SIGSTOP, then SIGCONT), ten iterations per run (benches/fixtures/timing-*.yaml).
# Ground truth per iteration is the SIGSTOP-to-SIGCONT interval that firedrill
# records; the script compares outageMs and timeToRecoverMs with it.
#
# Probes run on a fixed grid, so with a pause that is a whole number of intervals
# the delays at both ends of the outage are equal and cancel out. Each run
# therefore pauses for 1 s plus a different fraction of the interval
# (run r of R: 1000 + interval * (r-1) / R ms), spreading where the SIGCONT falls
# between two probes.
#
# Usage: benches/timing-accuracy.sh
# Environment:
#   FIREDRILL  binary to measure (default target/release/firedrill, built if missing)
#   RUNS       runs per interval, their iterations pooled (default 4)
#   KEEP_TMP   set to keep the results folder
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS=${RUNS:-4}
ensure_firedrill

echo "firedrill: $FIREDRILL ($("$FIREDRILL" --version))"
echo "host: $(nproc) CPUs, $(uname -sr); runs per interval: $RUNS, 10 iterations each"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
echo

reports=()
for interval in 10 100; do
    for run in $(seq 1 "$RUNS"); do
        pause_ms=$((1000 + interval * (run - 1) / RUNS))
        fixture="$TMP/timing-${interval}ms-$run.yaml"
        sed "s/^      duration: 1s\$/      duration: ${pause_ms}ms/" "$FIXTURES/timing-${interval}ms.yaml" >"$fixture"
        grep -q "duration: ${pause_ms}ms" "$fixture" || { echo "could not set the pause in $fixture" >&2; exit 1; }
        "$FIREDRILL" validate "$fixture" >/dev/null
        out="$TMP/timing-${interval}ms-$run"
        echo "run $run/$RUNS at ${interval} ms, pause ${pause_ms} ms ..." >&2
        status=0
        # A run of 10 iterations takes about 22 s; 120 s bounds it.
        run_bounded 120 "$FIREDRILL" run "$fixture" --out "$out" --plain >"$TMP/timing-${interval}ms-$run.log" 2>&1 || status=$?
        if [[ ! -f "$out/result.json" ]]; then
            echo "run failed (exit $status) without a result:" >&2
            tail -20 "$TMP/timing-${interval}ms-$run.log" >&2
            exit 1
        fi
        [[ $status -eq 0 ]] || echo "  run exited $status (status $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$out/result.json")); its iterations are still counted" >&2
        reports+=("$interval:$out/result.json")
    done
done

echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
echo
python3 "$BENCHES/lib/timing_report.py" "${reports[@]}"
