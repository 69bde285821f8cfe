#!/usr/bin/env bash
# Crash recovery: kills `firedrill run` with SIGKILL at a random moment of each of
# LOCAL drills on the local platform and KUBE drills against the fake API server, runs
# `firedrill rollback` on what each left, and checks that the target is as before
# (docs/crash-recovery.md). Prints, per platform, the kills per phase of the fault
# (before injection, during injection, fault active, during revert, after finishing)
# and how many were restored; exits non-zero if any was not.
#
# The drills are the ignored tests `crash::random_kills_*` of tests/local and
# tests/kubernetes; this script only runs them with the counts, so that the code lives
# in one place. The test harness ends every process a drill starts.
#
# Usage: benches/crash-recovery.sh [LOCAL [KUBE]]     (default 100 and 50)
# Environment:
#   FIREDRILL_CRASH_SEED  replay a series (each table prints its seed)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOCAL=${1:-100}
KUBE=${2:-50}
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "host: $(nproc) CPUs, $(uname -sr); load average before: $(cut -d" " -f1-3 /proc/loadavg)"

status=0
FIREDRILL_CRASH_DRILLS=$LOCAL cargo test --test local \
    crash::random_kills_are_rolled_back_to_nothing_left -- --ignored --nocapture || status=1
FIREDRILL_CRASH_DRILLS=$KUBE cargo test --test kubernetes \
    crash::random_kills_are_rolled_back_to_the_snapshot -- --ignored --nocapture || status=1
exit $status
