#!/usr/bin/env bash
# The restarter for the Chaos Toolkit side of benches/vs-chaostoolkit.sh: runs
# firedrill's demo service on PORT, writes its pid to PID_FILE, and starts it again
# 200 ms after it exits (the same back-off as the firedrill side's restart policy).
# Usage: supervise.sh FIREDRILL PORT PID_FILE LOG_FILE
set -euo pipefail
firedrill=$1 port=$2 pid_file=$3 log=$4
child=
trap '[[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null; exit 0' TERM INT
while true; do
    "$firedrill" demo serve --port "$port" --name web >>"$log" 2>&1 &
    child=$!
    echo "$child" >"$pid_file"
    wait "$child" || true
    sleep 0.2
done
