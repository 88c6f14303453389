"""Which notebook cell a verdict belongs to: the cell that raised, or the one still running.

Job: a Jupyter kernel watched through the bootstrap writes a `cell` record when a cell
starts and a `cell_end` when it ends (`inside/notebook.py`); an error record from a cell
carries its cell. `cell_of(raw, verdict)` picks the cell to name: a crash's own cell, else
the last cell that started and never ended (where a hang or a kill found the kernel), else
none; `named` adds it to the verdict's reason and evidence.

Pure. Must not import: mlx, psutil, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from .rule import Verdict

CELL, CELL_END = "cell", "cell_end"  # inside/notebook.py's record kinds


def cell_of(raw: RawResult, verdict: Verdict) -> dict | None:
    if verdict.kind == "crash":
        for error in raw.of_kind("error"):
            if isinstance(error.get("cell"), dict):
                return {**error["cell"], "state": "raised"}
    ended = {r.get("count") for r in raw.of_kind(CELL_END)}
    started = [r for r in raw.of_kind(CELL) if r.get("count") not in ended]
    if not started:
        return None
    last = started[-1]
    return {k: last.get(k) for k in ("count", "cell_id", "first_line", "lines")} | {
        "state": "running"}


def named(raw: RawResult, verdict: Verdict) -> Verdict:
    """The verdict with its notebook cell named (unchanged outside a notebook)."""
    cell = cell_of(raw, verdict)
    if cell is None:
        return verdict
    where = f"cell [{cell.get('count')}] `{cell.get('first_line')}`"
    what = "raised in" if cell["state"] == "raised" else "was running"
    reason = (f"{verdict.reason}; {where} {what}" if cell["state"] == "running"
              else f"{verdict.reason} ({what} {where})")
    return Verdict(verdict.kind, verdict.detail, reason, verdict.hint,
                   {**verdict.evidence, "cell": cell})
