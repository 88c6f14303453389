"""Rule unit: a printed iterations-per-second that is not the rate the loop ran at.

Job: a program that prints its speed (`It/sec`, `it/s`, `steps/s`) computes it from a timer
and a count of the steps since it was started. The watchdog knows when each optimizer
update arrived, so it knows the rate the loop really ran at between two reports. A timer
never reset at a report (mlx-examples PR 1278: `start` reset only after validation, so each
report divided 20 steps by the time since the last validation) prints a rate that falls
report after report and jumps at the next reset: a wrong number, the run itself healthy.

Thresholds and why: the ratio printed / measured (updates between two reports over the
time between them) at each of >= MIN_INTERVALS intervals; it fires when at least OFF_SHARE
(half) of them are off by more than OFF (3x either way) AND the ratios spread over SPREAD
(10x, max / min): a loop that counts micro-batches as iterations prints a steady multiple
of its update rate (a small spread), and a validation pass between two reports that the
program's timer leaves out doubles one ratio (measured over every kept run of the corpus:
correct loops' ratios 0.88-1.1, 2-2.5 at reports after a validation pass; fresh43
`report_throughput_timer`: 0.11-0.51 falling within each window and 43 after each
validation, spread 443). Only a name that says iterations or steps per second is read
(tokens or samples per second need the batch's size).

Two shapes, two fixes: a timer that outlives its window under-reports (some ratio < 1/OFF:
the timer is not reset at the report); a timer restarted inside the window, after a
validation pass at the start of a report's iteration, while the count runs from the last
report, only over-reports, by about the steps per report (mlx-lm-lora's trainer layout with
validation every second report: fresh235 `ferryman_tally_ppo_ok` ratios 10.2, 1.11, 10.64,
1.11, 11.92; fresh246 `lantern_ballot_grpo_ok` 11.75, 1.03, 10.41, ..., 11.08). The hint
names the one the ratios show (stop 72; both were one hint that named the first).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import bisect
import math
import re

from ..protocol import PROGRESS, decode_number
from ..watching.facts import RawResult
from . import program
from .rule import Rule, Verdict

RATE_NAME = re.compile(r"^(?:it|its|iter|iters|iteration|iterations|step|steps)"
                       r"(?:/s|/sec|/second|_per_s|_per_sec|_per_second)$", re.IGNORECASE)
MIN_INTERVALS = 5
OFF = 3.0
OFF_SHARE = 0.5
SPREAD = 10.0
HINT = ("the printed `{name}` is not the rate the loop ran at ({printed:g} printed where "
        "{measured:g} updates a second were measured): its timer is not reset at each "
        "report. Reset it where the count restarts (`start = time.perf_counter()` after "
        "each report, with the steps counted since then), and accumulate the training time "
        "apart from validation so a report never divides one window's steps by another's "
        "time")
RESTARTED = ("the printed `{name}` is not the rate the loop ran at ({printed:g} printed where "
             "{measured:g} updates a second were measured): its timer is restarted inside a "
             "report window (after a validation pass) while the step count runs from the "
             "last report, so that report divides the window's steps by part of its time. "
             "Accumulate the training time apart from validation (`train_time += "
             "time.perf_counter() - tic` around each step) and print steps / train_time, or "
             "restart the count with the timer")


def rate_reports(raw: RawResult) -> tuple[str, list[tuple[float, float]]] | None:
    """The first iterations-per-second name the program prints, and (time, value) of each
    report of it."""
    found: dict[str, list[tuple[float, float]]] = {}
    for record in raw.of_kind(PROGRESS):
        for name, value in (record.get("metrics") or {}).items():
            number = decode_number(value)
            if RATE_NAME.match(name.replace(" ", "")) and number is not None and number > 0:
                found.setdefault(name, []).append((float(record.get("t", 0.0)), number))
    name = next(iter(found), None)
    return (name, found[name]) if name else None


def ratios(reports: list[tuple[float, float]], times: list[float]) -> list[tuple[float, float]]:
    """(printed / measured, measured) for each interval between two reports with updates."""
    out = []
    for (t0, _), (t1, printed) in zip(reports, reports[1:]):
        done = bisect.bisect_right(times, t1) - bisect.bisect_right(times, t0)
        if done > 0 and t1 > t0:
            out.append((printed / (done / (t1 - t0)), done / (t1 - t0)))
    return out


def throughput(raw: RawResult, meta: dict) -> Verdict | None:
    times = program.update_times(raw)
    found = rate_reports(raw) if times else None
    if not found or times is None:
        return None
    name, reports = found
    pairs = ratios(reports, times)
    if len(pairs) < MIN_INTERVALS:
        return None
    values = [r for r, _ in pairs]
    off = sum(abs(math.log(r)) > math.log(OFF) for r in values) / len(values)
    spread = max(values) / min(values)
    if off < OFF_SHARE or spread < SPREAD:
        return None
    worst = max(range(len(values)), key=lambda i: abs(math.log(values[i])))
    printed = round(values[worst] * pairs[worst][1], 3)
    measured = round(pairs[worst][1], 3)
    return Verdict("wrong_result", "throughput", f"the printed `{name}` was off the measured "
                   f"update rate by more than {OFF:g}x at {off:.0%} of {len(values)} report "
                   f"intervals, the ratios spread {spread:.0f}x (e.g. {printed:g} printed, "
                   f"{measured:g} measured)", (HINT if min(values) < 1 / OFF else RESTARTED)
                   .format(name=name, printed=printed, measured=measured),
                   {"metric": name, "ratios": [round(v, 3) for v in values],
                    "off_share": round(off, 3), "spread": round(spread, 1), "off": OFF,
                    "off_share_min": OFF_SHARE, "spread_min": SPREAD})


RULES = (
    Rule("wrong_result.throughput", "metrics", "a printed iterations- or steps-per-second "
         f"off the measured update rate by > {OFF:g}x at >= {OFF_SHARE:.0%} of >= "
         f"{MIN_INTERVALS} report intervals, the ratios spread >= {SPREAD:g}x",
         "failure corpus: fresh43 report_throughput_timer (mlx-examples PR 1278)",
         throughput),
)
