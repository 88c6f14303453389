"""Rule unit: memory that grew by what the program itself reports keeping is no leak.

Job: a program that keeps something on purpose (every parameter iterate for a plot of its
path, a history of predictions, a buffer it never trims) and prints its size as it grows
(`path MB 3.6 -> 42.8`, `buffer_kb`) grows its memory by that much: the leak rule's fit sees
the climb and calls it a leak, while the program's own column accounts for it. This unit
excuses a memory view when a number the program prints is a size of something it keeps (a name
ending in a byte unit, `_kb`, `_mb`, `_gb`, `_bytes`, or a value printed with one, `store=0.30
MB`, or one with no name of its own after a `/` or in brackets, named by the metric before
it: `trajectory 101 snaps / 4.1 MB`), under a name that names no memory counter of the
process: not `mem`, `rss`, `maxrss`, `peak`, `active`, `cache`, `gpu`, ...: those report the
leak itself), rose at every report (never fell), over at least MIN_REPORTS reports, and the
view grew between its first and last report by RATIO_MIN to RATIO_MAX times what the printed
size grew (an array kept costs a little more than its values: MLX's own bookkeeping, the
allocator's rounding).

Thresholds and why: fresh386 `evaporite_terrace_pathpca` (correct: a 4,673-weight MLP whose
every evaluated parameter vector is appended to a list for a PCA of its path, printed as
`path MB` 0.0 -> 42.8 over 2,401 steps): RSS grew 25.0 KB a step and MLX's active memory
23.4 KB against 18.7 KB of values a step printed, 1.31-1.37x. RATIO_MAX = 2.0: a leak beside
the kept data, as large as it, doubles the ratio and stays a leak; RATIO_MIN = 0.5: a printed
size that grew twice as fast as memory is not what memory holds (a file on disk). MIN_REPORTS
= 4: a rise is seen at three reports or more after the first. fresh389 `platen_smear_weekly`
(correct: a weekly data store kept in MLX arrays, `store=0.30 MB` -> 2.38 MB over 8 weeks,
beside `maxrss=51 MB` -> 65 MB, which names the process's memory and excuses nothing).
fresh388 `organ_voicing_trajectory` (correct: every parameter vector kept, `901 snaps / 36.7
MB`): RSS rose 35.1 MB between the first and last report, 0.96x the printed 36.6 MB.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import re

from ..protocol import PROGRESS, decode_number
from ..watching.facts import RawResult

MB = 1024 * 1024
RATIO_MIN, RATIO_MAX = 0.5, 2.0
MIN_REPORTS = 4
UNITS = {"bytes": 1 / MB, "kb": 1 / 1024, "kib": 1 / 1024, "mb": 1.0, "mib": 1.0, "gb": 1024.0,
         "gib": 1024.0}
SIZE = re.compile(r"^(?P<what>[a-z][a-z0-9_]*?)_(?P<unit>bytes|kib|kb|mib|mb|gib|gb)$")
# the process's own memory, which a leak grows too: its report is no excuse
PROCESS = re.compile(r"mem|rss|peak|alloc|cache|heap|(?:^|_)(?:active|gpu|ram|vram|used|free|"
                     r"reserved|device|metal|mx|process|total)(?:$|_)")


def sizes(raw: RawResult) -> dict[str, list[tuple[float, float]]]:
    """Each printed size of something the program keeps: (time, MB) at each report."""
    out: dict[str, list[tuple[float, float]]] = {}
    for record in raw.of_kind(PROGRESS):
        for name, value in {**(record.get("metrics") or {}),
                            **(record.get("sizes") or {})}.items():
            what, unit = _sized(name, record.get("units") or {})
            number = decode_number(value)
            if unit and number is not None and not PROCESS.search(what) \
                    and isinstance(record.get("t"), (int, float)):
                out.setdefault(name, []).append((record["t"], number * UNITS[unit]))
    return out


def _sized(name: str, units: dict) -> tuple[str, str | None]:
    """(what the size is of, its byte unit) of a metric: a unit in its name (`path_mb`) or
    printed after its value (the output parser's `units`: `store=0.30 MB`); no unit, None."""
    found = SIZE.match(name)
    if found:
        return found["what"], found["unit"]
    unit = units.get(name)
    return name, unit if unit in UNITS else None


def accounted(printed: dict[str, list[tuple[float, float]]],
              memory: list[tuple[float, float]]) -> dict | None:
    """The printed size (of `sizes`) that accounts for a view's growth (`memory`: (time, MB)
    points), with the numbers that show it, or None."""
    for name, points in printed.items():
        found = _accounts(points, memory)
        if found is not None:
            return {"printed": name, **found}
    return None


def _accounts(points: list[tuple[float, float]], memory: list[tuple[float, float]]) -> dict | None:
    values = [v for _, v in points]
    if len(points) < MIN_REPORTS or any(b < a for a, b in zip(values, values[1:])):
        return None
    kept = values[-1] - values[0]
    start, end = _at(memory, points[0][0]), _at(memory, points[-1][0])
    if kept <= 0 or start is None or end is None:
        return None
    ratio = (end - start) / kept
    if not RATIO_MIN <= ratio <= RATIO_MAX:
        return None
    return {"printed_rise_mb": round(kept, 2), "memory_rise_mb": round(end - start, 2),
            "ratio": round(ratio, 2), "ratio_range": [RATIO_MIN, RATIO_MAX]}


def _at(memory: list[tuple[float, float]], t: float) -> float | None:
    """The view's last value at or before time `t`."""
    before = [v for when, v in memory if when <= t]
    return before[-1] if before else None
