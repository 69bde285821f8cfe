#!/usr/bin/env bash
# firedrill's fault proxy against a direct loopback connection, HAProxy and nginx's
# stream proxy, in one run (BENCHMARKS.md, section 3).
#
# One echo/sink server (benches/proxy.rs, `echo`) is the upstream of every proxy:
# `firedrill proxy` (a proxy created through its admin API, no toxics), HAProxy
# (TCP mode, one thread) and nginx (stream module, one process, no master), all on
# 127.0.0.1 with ports from the OS. Then, round-robin over direct and the three
# proxies: 1 KiB request/response latency and 64 KiB-write bulk throughput; then the
# latency toxic's error at 1, 10 and 100 ms; then memory per idle connection.
# `firedrill-1thread` is a control: the same proxy from the library on a
# current-thread runtime, as the binary's, without the admin API (benches/proxy.rs,
# `lib-proxy`); the targets compare `firedrill` (the binary) with the better peer.
#
# Usage: benches/proxy-vs-peers.sh
# Environment:
#   FIREDRILL     binary to measure (default: built here, release, in BENCH_TARGET)
#   BENCH_TARGET  cargo target dir for the release builds (default $REPO/target)
#   ROUNDS        rounds of the round-robin comparison, each with every proxy started
#                 afresh (default 9)
#   ROUND_TRIPS   recorded round trips per target and round (default 20000)
#   BLOCK         round trips a target runs before the next one's turn (default 1000)
#   BULK_SECS     seconds of bulk streaming per target and round (default 2)
#   TOXIC_ROUNDS  rounds of the latency toxic test (default 3)
#   IDLE_CONNS    idle connections per proxy (default 2000)
#   PERF_DIR      when set, also profiles firedrill with perf under each load (5 s
#                 request/response, 5 s bulk) and writes perf-rr.txt, perf-bulk.txt there
#   SYSCALLS      set to 1 to count each proxy's system calls per round trip and per MB
#                 of bulk (perf stat on the syscall tracepoints): independent of host load
#   INSTRUCTIONS  set to 1 to count each proxy's user-space instructions per round trip
#                 and per MB of bulk (a second instance of each under valgrind's callgrind,
#                 apt-get install valgrind): independent of host load
#   KEEP_TMP      set to keep the run folder (configs, logs)
#   PIN           place every process the same way for every target (taskset), so that
#                 placement by the scheduler does not differ between targets: `split`
#                 puts the echo server and the load generator on CPU 0 and each proxy on
#                 CPU 1 (every hop wakes the other CPU); `same` puts everything on CPU 0
#                 (no cross-CPU wake-up: the proxies' own cost per round trip shows)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROUNDS=${ROUNDS:-9}
ROUND_TRIPS=${ROUND_TRIPS:-20000}
BLOCK=${BLOCK:-1000}
BULK_SECS=${BULK_SECS:-2}
TOXIC_ROUNDS=${TOXIC_ROUNDS:-3}
IDLE_CONNS=${IDLE_CONNS:-2000}
BENCH_TARGET=${BENCH_TARGET:-$REPO/target}

# The peers, from Debian. nginx's stream module is a separate package.
if ! command -v haproxy >/dev/null || ! command -v nginx >/dev/null ||
    [[ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "needs haproxy, nginx and libnginx-mod-stream (apt-get install)" >&2; exit 2; }
    echo "installing haproxy, nginx and its stream module ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq haproxy nginx libnginx-mod-stream >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq haproxy nginx libnginx-mod-stream >/dev/null; }
fi

# The load generator (a bench target) and, unless given, firedrill itself.
build_proxy_bench release

# Waits up to SECS (10) for a TCP listener on 127.0.0.1:PORT.
wait_port() {
    local port=$1 deadline=$((SECONDS + ${2:-10}))
    while ((SECONDS < deadline)); do
        if ss -Hltn "src 127.0.0.1:$port" | grep -q .; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on 127.0.0.1:$port" >&2
    return 1
}

# With PIN set, the load side and the proxies on the CPUs it names; otherwise as it comes.
# Prefixes, not functions, so that `$!` is the program's own pid (taskset execs it).
LOAD_CPU=()
PROXY_CPU=()
case "${PIN:-}" in
    '') ;;
    split) LOAD_CPU=(taskset -c 0); PROXY_CPU=(taskset -c 1) ;;
    same) LOAD_CPU=(taskset -c 0); PROXY_CPU=(taskset -c 0) ;;
    *) echo "PIN must be split or same, not $PIN" >&2; exit 2 ;;
esac

fill() { # template output listen-port upstream run-folder
    sed -e "s|@LISTEN_PORT@|$3|g" -e "s|@UPSTREAM@|$4|g" -e "s|@DIR@|$5|g" "$1" >"$2"
}

"${LOAD_CPU[@]}" "$BENCH" echo >"$TMP/echo.log" 2>&1 &
ECHO_PID=$!
track "$ECHO_PID"
UPSTREAM=$(wait_line "$TMP/echo.log" '^listening on ' | awk '{ print $3 }')

# Starts every proxy afresh, with its logs and configuration in DIR. Sets FD_PID, ADMIN,
# FD_ADDR, LIB_PID, LIB_ADDR, HA_PID, HA_PORT, NGX_PID and NGX_PORT.
start_proxies() { # dir
    local dir=$1
    mkdir -p "$dir"
    "${PROXY_CPU[@]}" "$FIREDRILL" proxy --admin 127.0.0.1:0 >"$dir/firedrill.log" 2>&1 &
    FD_PID=$!
    track "$FD_PID"
    ADMIN=$(wait_line "$dir/firedrill.log" '^admin API on ' | awk '{ print $4 }')
    FD_ADDR=$("$BENCH" create-proxy --admin "$ADMIN" --name bench --upstream "$UPSTREAM")

    # A control beside the real binary: the same proxy from the library on a
    # current-thread runtime (as the binary's), without the admin API.
    "${PROXY_CPU[@]}" "$BENCH" lib-proxy --upstream "$UPSTREAM" --threads 1 >"$dir/lib-proxy.log" 2>&1 &
    LIB_PID=$!
    track "$LIB_PID"
    LIB_ADDR=$(wait_line "$dir/lib-proxy.log" '^listening on ' | awk '{ print $3 }')

    HA_PORT=$("$BENCH" free-port)
    fill "$FIXTURES/proxy/haproxy.cfg.in" "$dir/haproxy.cfg" "$HA_PORT" "$UPSTREAM" "$dir"
    "${PROXY_CPU[@]}" haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
    HA_PID=$!
    track "$HA_PID"
    wait_port "$HA_PORT"

    NGX_PORT=$("$BENCH" free-port)
    fill "$FIXTURES/proxy/nginx.conf.in" "$dir/nginx.conf" "$NGX_PORT" "$UPSTREAM" "$dir"
    "${PROXY_CPU[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" >"$dir/nginx.log" 2>&1 &
    NGX_PID=$!
    track "$NGX_PID"
    wait_port "$NGX_PORT"
}

stop_proxies() {
    local pid
    for pid in "$FD_PID" "$LIB_PID" "$HA_PID" "$NGX_PID"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$FD_PID" "$LIB_PID" "$HA_PID" "$NGX_PID"; do
        wait "$pid" 2>/dev/null || true
    done
    untrack "$FD_PID" "$LIB_PID" "$HA_PID" "$NGX_PID"
}

echo "firedrill: $FIREDRILL ($("$FIREDRILL" --version)), commit $(git -C "$REPO" rev-parse --short HEAD)"
echo "peers: $(haproxy -v | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | cut -d' ' -f3)"
echo "host: $(nproc) CPUs, $(uname -sr)${PIN:+; pinned: $PIN (PIN=split: load on CPU 0, proxies on CPU 1; PIN=same: everything on CPU 0)}"
echo "echo server $UPSTREAM"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# Every round starts every proxy afresh: where a process lands (its CPU, its memory) stays
# with it for its life, and two processes of the same binary differed by up to 10 µs at
# p50, round after round, in one run. A fresh set per round samples that too.
for ((round = 0; round < ROUNDS; round++)); do
    start_proxies "$TMP/round-$round"
    "${LOAD_CPU[@]}" "$BENCH" compare --direct "$UPSTREAM" \
        --target "firedrill=$FD_ADDR" --target "firedrill-1thread=$LIB_ADDR" --target "haproxy=127.0.0.1:$HA_PORT" --target "nginx=127.0.0.1:$NGX_PORT" \
        --rounds 1 --first-round "$round" --round-trips "$ROUND_TRIPS" --block "$BLOCK" --bulk-secs "$BULK_SECS" \
        --samples "$TMP/samples.tsv" --no-report
    stop_proxies
done
echo "Each round starts every proxy afresh (new processes, new ports)."
"$BENCH" compare --report-only --samples "$TMP/samples.tsv" --round-trips "$ROUND_TRIPS" --block "$BLOCK" --bulk-secs "$BULK_SECS"
echo

# One more set for the rest: the latency toxic, idle memory and the counts.
start_proxies "$TMP/main"
echo "firedrill $FD_ADDR (admin $ADMIN); firedrill-1thread $LIB_ADDR; haproxy 127.0.0.1:$HA_PORT; nginx 127.0.0.1:$NGX_PORT"
echo
"${LOAD_CPU[@]}" "$BENCH" toxic --admin "$ADMIN" --upstream "$UPSTREAM" --rounds "$TOXIC_ROUNDS"
echo
"${LOAD_CPU[@]}" "$BENCH" idle --connections "$IDLE_CONNS" \
    --target "firedrill=$FD_ADDR=$FD_PID" --target "firedrill-1thread=$LIB_ADDR=$LIB_PID" --target "haproxy=127.0.0.1:$HA_PORT=$HA_PID" \
    --target "nginx=127.0.0.1:$NGX_PORT=$NGX_PID"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Prints "count name" lines, the system calls PID makes while `load` runs KIND for SECS,
# then the load's own output line. perf counts for exactly as long as the load runs.
count_syscalls() { # pid addr kind secs
    local pid=$1 addr=$2 kind=$3 secs=$4 out="$TMP/syscalls.csv" load
    load=$(perf stat -x, -e 'syscalls:sys_enter_*' -p "$pid" -o "$out" -- \
        "$BENCH" load --addr "$addr" --kind "$kind" --secs "$secs")
    awk -F, '$1 ~ /^[0-9]+$/ && $1 > 0 { sub("syscalls:sys_enter_", "", $3); print $1, $3 }' "$out"
    echo "load $load"
}

# One table row per proxy and load: system calls per round trip or per MB, and by name.
syscall_table() { # name=addr=pid ...
    local t name addr pid kind secs=2 lines ops per
    echo "System calls of each proxy under one load at a time (perf stat on the syscall"
    echo "tracepoints, ${secs} s each): per round trip (1 KiB each way) and per MB of bulk."
    echo
    echo "| proxy | load | system calls | by name |"
    echo "|---|---|---|---|"
    for t in "$@"; do
        IFS== read -r name addr pid <<<"$t"
        for kind in rr bulk; do
            lines=$(count_syscalls "$pid" "$addr" "$kind" "$secs")
            if [[ $kind == rr ]]; then
                ops=$(awk '/^load / { print $2 }' <<<"$lines")
                per="round trip"
            else
                ops=$(awk -v s="$secs" '/^load / { print $2 * s }' <<<"$lines")
                per="MB"
            fi
            grep -v '^load ' <<<"$lines" | sort -rn | awk -v ops="$ops" -v name="$name" -v per="$per" '
                { total += $1 }
                $1 / ops >= 0.005 { by = by sprintf("%s%s %.2f", (by == "" ? "" : ", "), $2, $1 / ops) }
                END { printf "| %s | per %s | %.2f | %s |\n", name, per, total / ops, by }'
        done
    done
}

# Starts one more instance of a proxy under callgrind and prints its user-space
# instructions per round trip and per MB of bulk (counted after a warm-up).
instructions_row() { # name
    local name=$1 dir="$TMP/callgrind-$1" port addr vg_pid kind secs=3 load ir ops per
    mkdir -p "$dir"
    port=$("$BENCH" free-port)
    case $name in
        firedrill) set -- "$FIREDRILL" proxy --admin 127.0.0.1:0 ;;
        haproxy)
            fill "$FIXTURES/proxy/haproxy.cfg.in" "$dir/haproxy.cfg" "$port" "$UPSTREAM" "$dir"
            set -- haproxy -db -f "$dir/haproxy.cfg" ;;
        nginx)
            fill "$FIXTURES/proxy/nginx.conf.in" "$dir/nginx.conf" "$port" "$UPSTREAM" "$dir"
            set -- nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file="$dir/out" "$@" >"$dir/log" 2>&1 &
    vg_pid=$!
    track "$vg_pid"
    if [[ $name == firedrill ]]; then
        addr=$("$BENCH" create-proxy --admin "$(wait_line "$dir/log" '^admin API on ' 60 | awk '{ print $4 }')" \
            --name callgrind --upstream "$UPSTREAM")
    else
        wait_port "$port" 60
        addr=127.0.0.1:$port
    fi
    for kind in rr bulk; do
        "$BENCH" load --addr "$addr" --kind "$kind" --secs 1 >/dev/null
        callgrind_control -z "$vg_pid" >/dev/null 2>&1
        load=$("$BENCH" load --addr "$addr" --kind "$kind" --secs "$secs")
        rm -f "$dir/out."*
        callgrind_control -d "$vg_pid" >/dev/null 2>&1
        ir=$(callgrind_annotate "$dir"/out.* 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
        if [[ $kind == rr ]]; then
            ops=$(awk '{ print $1 }' <<<"$load")
            per="round trip"
        else
            ops=$(awk -v s="$secs" '{ print $1 * s }' <<<"$load")
            per="MB"
        fi
        awk -v ir="$ir" -v ops="$ops" -v name="$name" -v per="$per" \
            'BEGIN { printf "| %s | per %s | %.0f |\n", name, per, ir / ops }'
    done
    kill -TERM "$vg_pid" 2>/dev/null || true
    wait "$vg_pid" 2>/dev/null || true
}

if [[ -n "${SYSCALLS:-}" ]]; then
    echo
    syscall_table "firedrill=$FD_ADDR=$FD_PID" "haproxy=127.0.0.1:$HA_PORT=$HA_PID" "nginx=127.0.0.1:$NGX_PORT=$NGX_PID"
fi

if [[ -n "${INSTRUCTIONS:-}" ]]; then
    command -v valgrind >/dev/null || { echo "INSTRUCTIONS needs valgrind (apt-get install valgrind)" >&2; exit 2; }
    echo
    echo "User-space instructions of each proxy under valgrind's callgrind (a second instance,"
    echo "counted after a 1 s warm-up, 3 s per load): per round trip and per MB of bulk."
    echo
    echo "| proxy | load | instructions |"
    echo "|---|---|---|"
    for name in firedrill haproxy nginx; do
        instructions_row "$name"
    done
fi

if [[ -n "${PERF_DIR:-}" ]]; then
    mkdir -p "$PERF_DIR"
    for kind in rr bulk; do
        perf record -q -F 999 --call-graph dwarf,16384 -p "$FD_PID" -o "$TMP/perf-$kind.data" -- sleep 5 \
            >/dev/null 2>&1 &
        perf_pid=$!
        track "$perf_pid"
        sleep 0.3
        echo "profile under $kind: $("$BENCH" load --addr "$FD_ADDR" --kind "$kind" --secs 4.5)"
        wait "$perf_pid" || true
        perf report -i "$TMP/perf-$kind.data" --no-children --percent-limit 1 --stdio \
            >"$PERF_DIR/perf-$kind.txt" 2>/dev/null || true
        perf report -i "$TMP/perf-$kind.data" --children --sort symbol --percent-limit 2 --stdio -g none \
            >"$PERF_DIR/perf-$kind-children.txt" 2>/dev/null || true
    done
    echo "profiles in $PERF_DIR"
fi

# End the servers here, quietly, before the exit trap (which kills what is left).
for pid in "$NGX_PID" "$HA_PID" "$LIB_PID" "$FD_PID" "$ECHO_PID"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
