"""Table for benches/vs-chaostoolkit.sh: firedrill and Chaos Toolkit side by side.

Usage: vs_ctk_report.py DIR RUNS

Reads, for each run N in DIR: fd-N.t0 / ctk-N.t0 (wall time just before exec),
fd-N.time / ctk-N.time (GNU time: user sys maxrss_kib elapsed), fd-N.sample.json
(lib/sample_replicas.py), fd-N/ (firedrill's result folder), ctk-N.marker (wall time
written by the kill action just before the kill) and ctk-N.journal.json.
"""

import json
import statistics
import sys
from datetime import datetime


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read_float(path):
    with open(path) as f:
        return float(f.read().strip())


def read_time(path):
    with open(path) as f:
        user, system, maxrss, elapsed = f.read().split()[-4:]
    return float(user) + float(system), int(maxrss), float(elapsed)


def firedrill_run(d, n):
    t0 = read_float(f"{d}/fd-{n}.t0")
    cpu_tree, maxrss_tree, elapsed = read_time(f"{d}/fd-{n}.time")
    with open(f"{d}/fd-{n}.sample.json") as f:
        sample = json.load(f)
    with open(f"{d}/fd-{n}/result.json") as f:
        result = json.load(f)
    records = [json.loads(line) for line in open(f"{d}/fd-{n}/journal.jsonl") if line.strip()]
    first = lambda kind: next(r for r in records if r["kind"] == kind)
    injected = ts(first("fault-injected")["time"])
    ready = ts(first("workloads-ready")["time"])
    started = ts(first("run-started")["time"])
    starting = ts(first("workloads-starting")["time"])
    service_cpu = sum(r["cpuS"] for r in sample["replicas"].values())
    service_hwm = max((r["hwmKib"] or 0 for r in sample["replicas"].values()), default=0)
    iteration = result["iterations"][0]
    probes = sum(p["count"] for p in result["probes"]["api"].values())
    return {
        "start_to_inject_ms": (injected - t0) * 1000,
        "start_to_ready_ms": (ready - t0) * 1000,
        "exec_to_journal_ms": (started - t0) * 1000,
        "service_startup_ms": (ready - starting) * 1000,
        "ready_to_inject_ms": (injected - ready) * 1000,
        "cpu_s": cpu_tree - service_cpu,
        "cpu_tree_s": cpu_tree,
        "service_cpu_s": service_cpu,
        "peak_mib": (sample["firedrill"]["hwmKib"] or maxrss_tree) / 1024,
        "peak_tree_mib": maxrss_tree / 1024,
        "service_peak_mib": service_hwm / 1024,
        "elapsed_s": elapsed,
        "probes": probes,
        "probe_rate": probes / (result["durationMs"] / 1000),
        "ttd_ms": iteration.get("timeToDetectMs"),
        "ttr_ms": iteration.get("timeToRecoverMs"),
        "outage_ms": iteration.get("outageMs"),
        "status": result["status"],
    }


def ctk_run(d, n):
    t0 = read_float(f"{d}/ctk-{n}.t0")
    killed = read_float(f"{d}/ctk-{n}.marker")
    cpu, maxrss, elapsed = read_time(f"{d}/ctk-{n}.time")
    with open(f"{d}/ctk-{n}.journal.json") as f:
        journal = json.load(f)
    states = journal.get("steady_states", {})
    during = states.get("during") or []
    probes = sum(len(s.get("probes", [])) for s in during)
    probes += sum(len((states.get(k) or {}).get("probes", [])) for k in ("before", "after"))
    failed_during = sum(1 for s in during if not s.get("steady_state_met"))
    return {
        "start_to_inject_ms": (killed - t0) * 1000,
        "cpu_s": cpu,
        "peak_mib": maxrss / 1024,
        "elapsed_s": elapsed,
        "probes": probes,
        "probe_rate": probes / journal["duration"],
        "failed_during": failed_during,
        "status": journal["status"],
    }


def med(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def spread(runs, key, fmt):
    values = sorted(r[key] for r in runs if r.get(key) is not None)
    return "[" + ", ".join(fmt.format(v) for v in values) + "]"


def main(d, runs):
    runs = int(runs)
    fd = [firedrill_run(d, n) for n in range(1, runs + 1)]
    ctk = [ctk_run(d, n) for n in range(1, runs + 1)]

    print(f"medians of {runs} runs each (all runs, sorted, in brackets)")
    print()
    rows = [
        ("start to first injection", "start_to_inject_ms", "{:.0f} ms", "{:.0f}", 0.1),
        ("CPU time, user+sys", "cpu_s", "{:.3f} s", "{:.2f}", 0.1),
        ("peak memory (max RSS)", "peak_mib", "{:.1f} MiB", "{:.1f}", 0.5),
    ]
    print(f"{'':<26}{'firedrill':>12}  {'Chaos Toolkit':>13}  {'ratio':>6}  {'target':>7}  met")
    for label, key, fmt, short, target in rows:
        a, b = med(fd, key), med(ctk, key)
        ratio = a / b
        print(f"{label:<26}{fmt.format(a):>12}  {fmt.format(b):>13}  {ratio:>6.3f}  {'<= ' + format(target, 'g'):>7}  "
              f"{'yes' if ratio <= target else 'NO'}")
    for label, key, fmt, short, _ in rows:
        print(f"  {label}: firedrill {spread(fd, key, short)}, Chaos Toolkit {spread(ctk, key, short)}")
    print()
    print(f"{'':<26}{'firedrill':>12}  {'Chaos Toolkit':>13}")
    print(f"{'wall time of the run':<26}{med(fd, 'elapsed_s'):>10.2f} s  {med(ctk, 'elapsed_s'):>11.2f} s")
    print(f"{'probes sent':<26}{med(fd, 'probes'):>12.0f}  {med(ctk, 'probes'):>13.0f}")
    print(f"{'probes per second':<26}{med(fd, 'probe_rate'):>12.0f}  {med(ctk, 'probe_rate'):>13.0f}")
    print(f"{'time to detect':<26}{med(fd, 'ttd_ms'):>9.0f} ms  {'not reported':>13}")
    print(f"{'time to recover':<26}{med(fd, 'ttr_ms'):>9.0f} ms  {'not reported':>13}")
    print(f"{'outage':<26}{med(fd, 'outage_ms'):>9.0f} ms  {'not reported':>13}")
    print(f"{'verdict':<26}{','.join(sorted({r['status'] for r in fd})):>12}  {','.join(sorted({r['status'] for r in ctk})):>13}")
    print(f"  Chaos Toolkit hypothesis runs that deviated during the method (median): {med(ctk, 'failed_during'):.0f}")
    print()
    print("firedrill, for context (not in the ratios):")
    print(f"  start to first injection, split: exec to its first journal record {med(fd, 'exec_to_journal_ms'):.0f} ms, "
          f"starting the service until the readiness check passes {med(fd, 'service_startup_ms'):.0f} ms "
          f"(readiness period 100 ms), ready to injection {med(fd, 'ready_to_inject_ms'):.0f} ms (10 ms baseline)")
    print(f"  CPU time including the service it runs: {med(fd, 'cpu_tree_s'):.3f} s "
          f"(service: {med(fd, 'service_cpu_s'):.3f} s); max RSS of its process tree: {med(fd, 'peak_tree_mib'):.1f} MiB "
          f"(service: {med(fd, 'service_peak_mib'):.1f} MiB)")
    print()
    print("What is counted:")
    print("  start to first injection: the script's wall clock just before exec, to the kill:")
    print("    firedrill's journal `fault-injected` record (ms resolution; includes starting the")
    print("    service and its readiness), Chaos Toolkit's kill action's own `date +%s.%N`")
    print("    (the service was started and ready before Chaos Toolkit started).")
    print("  CPU: GNU time of the tool and every child it waited for. Chaos Toolkit: chaos and")
    print("    the kill action's bash, date and kill; the service runs outside it. firedrill:")
    print("    firedrill minus its demo-service replicas (sampled every 10 ms from /proc).")
    print("  peak memory: the tool's own process: firedrill's VmHWM (sampled), GNU time's max RSS")
    print("    for chaos (the largest process in its tree, the Python interpreter).")


if __name__ == "__main__":
    main(*sys.argv[1:])
