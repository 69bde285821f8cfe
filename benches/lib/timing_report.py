"""Timing accuracy of firedrill's outageMs and timeToRecoverMs against ground truth.

Usage: timing_report.py INTERVAL_MS:RESULT_JSON [INTERVAL_MS:RESULT_JSON ...]

Ground truth per iteration is the time the process stayed stopped: from the
`fault-injected` event (SIGSTOP sent) to the `fault-reverted` event (SIGCONT sent).
Their `offsetMs` (monotonic, microseconds) is used; `faults[0].injectedAt` and
`revertedAt` hold the same instants rounded to the millisecond and are the fallback.
Several results for one interval are pooled.
"""

import json
import math
import sys
from datetime import datetime


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ground_truth_ms(iteration):
    offsets = {}
    for event in iteration.get("events", []):
        if event["kind"] in ("fault-injected", "fault-reverted") and event["kind"] not in offsets:
            offsets[event["kind"]] = event["offsetMs"]
    if len(offsets) == 2:
        return offsets["fault-reverted"] - offsets["fault-injected"]
    fault = iteration["faults"][0]
    if fault.get("injectedAt") and fault.get("revertedAt"):
        return (parse_time(fault["revertedAt"]) - parse_time(fault["injectedAt"])).total_seconds() * 1000
    return None


def nearest_rank(values, percentile):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)]


def main(args):
    pooled = {}
    for arg in args:
        interval, path = arg.split(":", 1)
        with open(path) as f:
            pooled.setdefault(float(interval), []).append(json.load(f))

    header = (
        f"{'interval':>8}  {'n':>3}  {'metric':<15} {'truth p50':>9}  {'bias p50':>8}  "
        f"{'|err| p50':>9}  {'|err| p90':>9}  {'|err| max':>9}  {'within':>7}  bound"
    )
    print(header)
    print("-" * len(header))
    for interval, results in sorted(pooled.items()):
        bound = 2 * interval + 50
        rows = []  # (truth, outage, recover)
        skipped = 0
        for result in results:
            for iteration in result["iterations"]:
                truth = ground_truth_ms(iteration)
                if truth is None or iteration.get("outageMs") is None or iteration.get("timeToRecoverMs") is None:
                    skipped += 1
                    continue
                rows.append((truth, iteration["outageMs"], iteration["timeToRecoverMs"]))
        if not rows:
            print(f"{interval:>6.0f}ms  no usable iteration ({skipped} skipped)")
            continue
        truths = [r[0] for r in rows]
        for name, column in (("outageMs", 1), ("timeToRecoverMs", 2)):
            signed = [r[column] - r[0] for r in rows]
            errors = [abs(e) for e in signed]
            within = sum(e <= bound for e in errors) / len(errors)
            print(
                f"{interval:>6.0f}ms  {len(rows):>3}  {name:<15} {nearest_rank(truths, 50):>7.1f}ms  "
                f"{nearest_rank(signed, 50):>+6.1f}ms  {nearest_rank(errors, 50):>7.1f}ms  "
                f"{nearest_rank(errors, 90):>7.1f}ms  {max(errors):>7.1f}ms  {within:>6.0%}  <= {bound:.0f}ms"
            )
        if skipped:
            print(f"{'':>8}  {skipped} iteration(s) without a value were left out (not recovered or not injected)")
    print()
    print("error = measured - truth; truth = SIGSTOP to SIGCONT of the iteration's pause;")
    print("bias = median signed error; within = share of iterations with |error| <= 2 intervals + 50 ms;")
    print("percentiles are nearest-rank over the pooled iterations.")


if __name__ == "__main__":
    main(sys.argv[1:])
