"""Samples the CPU time and peak memory of firedrill and of the replicas it starts.

Usage: sample_replicas.py JOURNAL WATCH_PID OUT_JSON [PERIOD_S]

Follows firedrill's journal as it is written: `run-started` gives firedrill's pid,
`replica-started` the pid of each replica. Every PERIOD_S (default 0.01 s) it reads the
CPU time of each, in nanoseconds, summed over its threads from /proc/PID/task/*/schedstat
(utime+stime from /proc/PID/stat, in clock ticks of 10 ms, where schedstat is missing),
and VmHWM from /proc/PID/status, keeping the last values seen, until WATCH_PID exits. A
replica's CPU time after its last sample (at most one period, the moments before it was
killed or stopped) is missed.
"""

import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def schedstat_cpu(pid):
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def read_proc(pid):
    try:
        cpu = schedstat_cpu(pid)
        if cpu is None:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
        hwm = None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        return cpu, hwm
    except (OSError, IndexError, ValueError):
        return None


def main(journal_path, watch_pid, out_path, period=0.01):
    watch_pid = int(watch_pid)
    period = float(period)
    firedrill_pid = None
    replicas = {}  # pid -> {"cpuS", "hwmKib"}
    firedrill = {"cpuS": None, "hwmKib": None}
    offset = 0
    pending = ""
    while True:
        alive = os.path.exists(f"/proc/{watch_pid}")
        try:
            with open(journal_path) as f:
                f.seek(offset)
                chunk = f.read()
                offset = f.tell()
        except FileNotFoundError:
            chunk = ""
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            if record["kind"] == "run-started":
                firedrill_pid = record["data"]["pid"]
            elif record["kind"] == "replica-started":
                replicas.setdefault(record["data"]["pid"], {"cpuS": 0.0, "hwmKib": None})
        for pid, seen in replicas.items():
            sample = read_proc(pid)
            if sample:
                seen["cpuS"], seen["hwmKib"] = sample
        if firedrill_pid:
            sample = read_proc(firedrill_pid)
            if sample:
                firedrill["cpuS"], firedrill["hwmKib"] = sample
        if not alive:
            break
        time.sleep(period)
    with open(out_path, "w") as f:
        json.dump({"firedrillPid": firedrill_pid, "firedrill": firedrill,
                   "replicas": {str(k): v for k, v in replicas.items()}}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
