#!/usr/bin/env bash
# Builds the fuzz targets of tests/fuzz and runs each for a while, then prints a table:
# target, seconds run, executions, findings (crash, timeout and out-of-memory files).
#
#   benches/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; no TARGET means all of them. Environment:
#   FUZZ_JOBS        targets run at once (default 1; each uses one core)
#   FUZZ_WORK        scratch folder for the growing corpora, artifacts and logs
#                    (default target/fuzz-work under CARGO_TARGET_DIR or the repository)
#   FUZZ_TIMEOUT     seconds one input may take before it counts as a hang (default 10)
#   FUZZ_RSS_MB      memory a target may use before it counts as a blow-up (default 2048)
#   FUZZ_BUILD       `cargo-fuzz` (default): cargo fuzz build, release, every crate
#                    instrumented; or `quick`: a dev build with only firedrill and the
#                    targets instrumented (tests/fuzz/coverage-rustc.sh), which reuses
#                    dependencies already built in the dev profile (docs/fuzzing.md)
#   FUZZ_NO_BUILD    set to 1 to run the targets as last built
#   CARGO_TARGET_DIR where the fuzz build goes (default /tmp/firedrill-fuzzbuild, never the
#                    main build's folder: the fuzz build uses other compiler flags)
#
# The committed seeds (tests/fuzz/corpus/TARGET) are read, never written: what a run finds
# goes to FUZZ_WORK. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); works on the
# stable toolchain with `--sanitizer none` (docs/fuzzing.md).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
fuzz_dir="$repo/tests/fuzz"
seconds="${1:-60}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/firedrill-fuzzbuild}"
work="${FUZZ_WORK:-$CARGO_TARGET_DIR/fuzz-work}"
timeout="${FUZZ_TIMEOUT:-10}"
rss="${FUZZ_RSS_MB:-2048}"
jobs="${FUZZ_JOBS:-1}"

if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi

cd "$repo"
mapfile -t all < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
for t in "${targets[@]}"; do
    if ! printf '%s\n' "${all[@]}" | grep -qx "$t"; then
        echo "unknown target $t; the targets are: ${all[*]}" >&2
        exit 2
    fi
done

if [ "${FUZZ_BUILD:-cargo-fuzz}" = quick ]; then
    [ "${FUZZ_NO_BUILD:-0}" = 1 ] || echo "building ${targets[*]} (dev, firedrill and the targets instrumented)" >&2
    [ "${FUZZ_NO_BUILD:-0}" = 1 ] || RUSTC_WRAPPER="$fuzz_dir/coverage-rustc.sh" \
        cargo build --manifest-path "$fuzz_dir/Cargo.toml" "${targets[@]/#/--bin=}" >&2
    bin_dir="$CARGO_TARGET_DIR/debug"
elif [ "${FUZZ_NO_BUILD:-0}" = 1 ]; then
    bin_dir="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"
else
    echo "building ${targets[*]} (release, with debug assertions and overflow checks, no sanitizer)" >&2
    if [ ${#targets[@]} -eq ${#all[@]} ]; then
        cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer none -O -a >&2
    else
        for t in "${targets[@]}"; do
            cargo fuzz build --fuzz-dir "$fuzz_dir" --sanitizer none -O -a "$t" >&2
        done
    fi
    triple="$(rustc -vV | sed -n 's/^host: //p')"
    bin_dir="$CARGO_TARGET_DIR/$triple/release"
fi

run_one() {
    local t="$1"
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/logs"
    local log="$work/logs/$t.log"
    local start end
    start=$(date +%s)
    # Fork mode, so that a crash, a hang or a blow-up is written to artifacts and the run
    # goes on looking for more; the table counts what it left there.
    "$bin_dir/$t" "$work/corpus/$t" "$fuzz_dir/corpus/$t" \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" \
        -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1 || true
    end=$(date +%s)
    echo "$((end - start))" >"$work/logs/$t.seconds"
}

running=0
for t in "${targets[@]}"; do
    echo "fuzzing $t for ${seconds}s" >&2
    if [ "$jobs" -gt 1 ]; then
        run_one "$t" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
            wait -n
            running=$((running - 1))
        fi
    else
        run_one "$t"
    fi
done
wait

printf '%-16s %8s %14s %9s\n' target seconds executions findings
for t in "${targets[@]}"; do
    log="$work/logs/$t.log"
    # Fork mode's status lines count the executions of every child so far.
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    found=$(find "$work/artifacts/$t" -type f \
        \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    printf '%-16s %8s %14s %9s\n' "$t" "$(cat "$work/logs/$t.seconds")" "${execs:-0}" "$found"
done
echo "corpora, findings and logs: $work" >&2
