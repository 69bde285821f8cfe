#!/usr/bin/env bash
# firedrill side by side with Chaos Toolkit on the same drill: an HTTP service
# (firedrill's demo service) killed with SIGKILL and restarted 200 ms later, its
# /api probed every 10 ms, for 3 s after the kill.
#
#   firedrill      benches/fixtures/vs-ctk.firedrill.yaml, on its local platform
#                  (its normal mode: it starts the service and restarts it).
#   Chaos Toolkit  benches/fixtures/vs-ctk.chaostoolkit.yaml against the same
#                  service under a bash supervisor loop (lib/supervise.sh), run with
#                  --hypothesis-strategy continuously --hypothesis-frequency 0.01;
#                  the kill action is benches/fixtures/kill-service.sh.
#
# Measures, per tool, the median of RUNS runs (alternating the tools): time from
# process start to the kill, CPU time (user+sys) and peak memory of the tool.
#
# Usage: benches/vs-chaostoolkit.sh
# Environment:
#   FIREDRILL    binary to measure (default target/release/firedrill, built if missing)
#   CTK_VENV     Chaos Toolkit virtualenv (default /opt/ctk-venv, created if missing)
#   CTK_VERSION  chaostoolkit version installed into a new venv (default 1.21.4)
#   RUNS         runs per tool (default 5)
#   KEEP_TMP     set to keep the run folders
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS=${RUNS:-5}
CTK_VENV=${CTK_VENV:-/opt/ctk-venv}
CTK_VERSION=${CTK_VERSION:-1.21.4}

ensure_firedrill
ensure_gnu_time

# Prints the path of a Python interpreter >= 3.12 that really runs. A name found on PATH is not
# enough: pyenv's shim for python3.12 exists even when no 3.12 is selected, and then fails with
# "pyenv: python3.12: command not found". Each candidate is therefore asked for its version.
find_python_312() {
    local candidate
    local -a candidates=()
    for candidate in python3.14 python3.13 python3.12 python3; do
        command -v "$candidate" >/dev/null 2>&1 && candidates+=("$(command -v "$candidate")")
    done
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)"/versions/3.1[2-9]*/bin/python3)
    fi
    candidates+=(/usr/bin/python3.1[2-9] /usr/local/bin/python3.1[2-9])
    for candidate in "${candidates[@]}"; do
        [[ -x "$candidate" ]] || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_ctk() {
    [[ -x "$CTK_VENV/bin/chaos" ]] && return
    echo "creating the Chaos Toolkit venv in $CTK_VENV ..." >&2
    local python
    python=$(find_python_312) || {
        echo "Chaos Toolkit needs Python >= 3.12; none found (tried python3.1x on PATH, pyenv's versions, /usr/bin)" >&2
        exit 2
    }
    echo "using $python ($("$python" --version 2>&1))" >&2
    "$python" -m venv "$CTK_VENV"
    "$CTK_VENV/bin/pip" install --quiet "chaostoolkit==$CTK_VERSION"
}
ensure_ctk
CHAOS="$CTK_VENV/bin/chaos"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to 10 s for http://127.0.0.1:PORT/health to answer 200.
wait_healthy() {
    python3 - "$1" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=0.5) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.02)
sys.exit("the service did not become healthy within 10 s")
PY
}

now() { date +%s.%N; }

run_firedrill() {
    local n=$1 out="$TMP/fd-$n"
    # The sampler follows the journal for the replicas' pids and firedrill's memory.
    now >"$TMP/fd-$n.t0"
    timeout 60 /usr/bin/time -f '%U %S %M %e' -o "$TMP/fd-$n.time" \
        "$FIREDRILL" run "$FIXTURES/vs-ctk.firedrill.yaml" --out "$out" --plain >"$TMP/fd-$n.log" 2>&1 &
    local pid=$!
    track "$pid"
    python3 "$BENCHES/lib/sample_replicas.py" "$out/journal.jsonl" "$pid" "$TMP/fd-$n.sample.json" 0.01 &
    local sampler=$!
    track "$sampler"
    local status=0
    wait "$pid" || status=$?
    wait "$sampler"
    [[ -f "$out/result.json" ]] || { echo "firedrill run $n failed (exit $status):" >&2; tail -20 "$TMP/fd-$n.log" >&2; exit 1; }
}

run_ctk() {
    local n=$1 port
    port=$(free_port)
    setsid "$BENCHES/lib/supervise.sh" "$FIREDRILL" "$port" "$TMP/ctk-$n.pid" "$TMP/ctk-$n.service.log" 2>>"$TMP/ctk-$n.service.log" &
    local supervisor=$!
    track "$supervisor"
    wait_healthy "$port"
    local status=0
    (
        cd "$TMP"
        export BENCH_PORT=$port BENCH_KILL_SCRIPT="$FIXTURES/kill-service.sh" \
            BENCH_PID_FILE="$TMP/ctk-$n.pid" BENCH_MARKER_FILE="$TMP/ctk-$n.marker"
        now >"$TMP/ctk-$n.t0"
        exec timeout 60 /usr/bin/time -f '%U %S %M %e' -o "$TMP/ctk-$n.time" \
            "$CHAOS" --no-version-check --log-file "$TMP/ctk-$n.chaos.log" run \
            --journal-path "$TMP/ctk-$n.journal.json" \
            --hypothesis-strategy continuously --hypothesis-frequency 0.01 \
            "$FIXTURES/vs-ctk.chaostoolkit.yaml"
    ) >"$TMP/ctk-$n.log" 2>&1 || status=$?
    kill -TERM -- "-$supervisor" 2>/dev/null || true
    wait "$supervisor" 2>/dev/null || true
    [[ -f "$TMP/ctk-$n.marker" && -f "$TMP/ctk-$n.journal.json" ]] ||
        { echo "Chaos Toolkit run $n failed (exit $status):" >&2; tail -20 "$TMP/ctk-$n.log" >&2; exit 1; }
}

"$FIREDRILL" validate "$FIXTURES/vs-ctk.firedrill.yaml" >/dev/null
BENCH_PORT=1 BENCH_KILL_SCRIPT=x BENCH_PID_FILE=x BENCH_MARKER_FILE=x \
    "$CHAOS" --no-version-check --no-log-file validate "$FIXTURES/vs-ctk.chaostoolkit.yaml" >"$TMP/ctk-validate.log" 2>&1 ||
    { cat "$TMP/ctk-validate.log" >&2; exit 1; }

echo "firedrill: $FIREDRILL ($("$FIREDRILL" --version)); Chaos Toolkit: $("$CHAOS" --no-version-check --version 2>&1 | tail -1)"
echo "host: $(nproc) CPUs, $(uname -sr); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $(seq 1 "$RUNS"); do
    echo "run $n/$RUNS: firedrill, then Chaos Toolkit ..." >&2
    run_firedrill "$n"
    run_ctk "$n"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 "$BENCHES/lib/vs_ctk_report.py" "$TMP" "$RUNS"
