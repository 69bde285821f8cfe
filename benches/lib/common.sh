# Shared set-up for the scripts in benches/. Sourced, not run.
#
# Sets REPO (the checkout), FIREDRILL (the binary to measure) and TMP (a private
# folder removed on exit), and kills on exit every process the script registered
# with `track PID` (as a process group when it leads one).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCHES="$REPO/benches"
FIXTURES="$BENCHES/fixtures"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/firedrill-bench.XXXXXX")
TRACKED=()

track() { TRACKED+=("$1"); }

# Forgets PIDs the script has ended and reaped itself, so that the cleanup on exit never
# signals a process that has since been given the same pid.
untrack() {
    local pid gone kept=()
    for pid in "${TRACKED[@]}"; do
        for gone in "$@"; do
            [[ $pid == "$gone" ]] && continue 2
        done
        kept+=("$pid")
    done
    TRACKED=("${kept[@]}")
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${TRACKED[@]}"; do
        # A process started with setsid leads its own group: end the whole group.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${TRACKED[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n "${KEEP_TMP:-}" ]]; then
        echo "kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The firedrill binary: $FIREDRILL, else target/release/firedrill, built when missing.
ensure_firedrill() {
    if [[ -n "${FIREDRILL:-}" ]]; then
        [[ -x "$FIREDRILL" ]] || { echo "FIREDRILL=$FIREDRILL is not an executable" >&2; exit 2; }
    else
        FIREDRILL="$REPO/target/release/firedrill"
        if [[ ! -x "$FIREDRILL" ]]; then
            echo "building firedrill (release) ..." >&2
            (cd "$REPO" && cargo build --release --quiet --target-dir "$REPO/target")
        fi
    fi
    FIREDRILL=$(cd "$(dirname "$FIREDRILL")" && pwd)/$(basename "$FIREDRILL")
}

# GNU time, for CPU time and peak memory (Debian package `time`).
ensure_gnu_time() {
    if [[ ! -x /usr/bin/time ]]; then
        echo "installing GNU time ..." >&2
        if [[ $(id -u) -eq 0 ]]; then
            apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
        else
            echo "/usr/bin/time is missing: apt-get install time" >&2
            exit 2
        fi
    fi
}

# Run "$@" in the background with a deadline, wait for it, and return its status
# (so a trap can still end it while we wait).
run_bounded() {
    local seconds=$1
    shift
    timeout --signal=TERM --kill-after=5 "$seconds" "$@" &
    local pid=$!
    track "$pid"
    local status=0
    wait "$pid" || status=$?
    return "$status"
}

# Builds the proxy bench (benches/proxy.rs) and firedrill with the cargo profile PROFILE
# (default release) into BENCH_TARGET (default $REPO/target); sets BENCH, and FIREDRILL
# unless it is given.
build_proxy_bench() {
    local profile=${1:-release} artifacts
    echo "building the proxy bench ($profile) ..." >&2
    artifacts=$(cd "$REPO" && cargo build --profile "$profile" --quiet --bench proxy --bin firedrill \
        --target-dir "${BENCH_TARGET:-$REPO/target}" --message-format=json |
        jq -r 'select(.reason == "compiler-artifact" and .executable != null) | "\(.target.kind[0]) \(.executable)"')
    BENCH=$(awk '$1 == "bench" { print $2 }' <<<"$artifacts")
    FIREDRILL=${FIREDRILL:-$(awk '$1 == "bin" { print $2 }' <<<"$artifacts")}
    [[ -x "$BENCH" && -x "$FIREDRILL" ]] || { echo "build produced no binaries: $artifacts" >&2; exit 1; }
}

# Waits up to SECS (10) for FILE to contain a line matching PATTERN; prints that line.
wait_line() {
    local file=$1 pattern=$2 deadline=$((SECONDS + ${3:-10}))
    while ((SECONDS < deadline)); do
        if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "timed out waiting for /$pattern/ in $file:" >&2
    cat "$file" >&2
    return 1
}
