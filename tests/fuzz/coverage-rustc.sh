#!/bin/sh
# A rustc wrapper (RUSTC_WRAPPER) that adds libFuzzer's coverage instrumentation, the flags
# cargo-fuzz passes, to firedrill and the fuzz targets only. With it the fuzz targets build in
# the dev profile against dependencies already built for firedrill's own tests, in minutes
# instead of the half hour an instrumented build of every crate takes on two shared cores.
# Coverage then guides the fuzzer through firedrill's code (the serde code derived for its
# types included), not through the insides of serde_json or the YAML parser.
rustc="$1"
shift
case " $* " in
*" --crate-name firedrill "* | *fuzz_targets/*)
    exec "$rustc" "$@" \
        -Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares \
        --cfg fuzzing
    ;;
esac
exec "$rustc" "$@"
