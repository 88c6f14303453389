"""Naming a notebook's cell in a verdict (`judging.cells`): the cell that raised, else the
one still running, else none. Pure; < 0.1 s."""

from __future__ import annotations

from mlxprobe.judging import cells
from mlxprobe.judging.rule import Verdict
from mlxprobe.watching.facts import RawResult

ONE = {"kind": "cell", "count": 1, "first_line": "import mlx.core as mx", "t": 1.0}
TWO = {"kind": "cell", "count": 2, "first_line": "for n in range(9):", "t": 2.0}


def test_a_hang_names_the_cell_that_never_ended() -> None:
    raw = RawResult(records=[ONE, {"kind": "cell_end", "count": 1, "t": 1.5}, TWO])
    named = cells.named(raw, Verdict("hang", "cpu_busy", "no heartbeat"))
    assert named.evidence["cell"]["count"] == 2 and named.evidence["cell"]["state"] == "running"
    assert named.reason == "no heartbeat; cell [2] `for n in range(9):` was running"


def test_a_crash_names_its_own_cell() -> None:
    error = {"kind": "error", "type": "RuntimeError", "message": "x", "t": 2.5,
             "cell": {"count": 2, "first_line": "for n in range(9):"}}
    raw = RawResult(records=[ONE, {"kind": "cell_end", "count": 1, "t": 1.5}, TWO, error,
                             {"kind": "cell_end", "count": 2, "t": 2.6}])
    named = cells.named(raw, Verdict("crash", "RuntimeError", "the loop raised RuntimeError"))
    assert named.evidence["cell"]["state"] == "raised"
    assert named.reason.endswith("(raised in cell [2] `for n in range(9):`)")


def test_outside_a_notebook_nothing_changes() -> None:
    verdict = Verdict("pass", "", "finished cleanly")
    assert cells.named(RawResult(records=[]), verdict) is verdict
    done = RawResult(records=[ONE, {"kind": "cell_end", "count": 1, "t": 1.5}])
    assert cells.named(done, verdict) is verdict
