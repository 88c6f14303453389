"""Stop 90's verdict changes, each on the shape of the run it was measured on.

- an optimizer built and never stepped in a run that finished (exit 0) is
  `no_update:optimizer_idle` however few losses it printed (fresh344 `quarry_lantern_dflash`:
  every batch skipped by a filter, no loss printed, `0/300 steps`); a run that crashed keeps
  its crash.
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

SKIPPED_ALL = ("self-generated 384 sequences, lengths 24-32\n"
               "stopped: 500 consecutive batches without a usable window (0/300 steps)\n"
               "no gradient steps completed; the draft keeps its initial weights\n")


def never_stepped(exit_code: int = 0, stderr: str = "") -> RawResult:
    records = [{"kind": "start", "t": 0.0, "source": "bootstrap"},
               {"kind": "optimizer", "name": "AdamW", "t": 0.9},
               {"kind": "progress", "source": "output", "step": 8, "t": 0.91,
                "metrics": {"params": 43760.0, "block": 4.0}},
               {"kind": "rate", "optimizer": "AdamW", "set": True, "value": 3e-4, "t": 1.0}]
    return RawResult(records=records, exit_code=exit_code, watched=True,
                     stdout_tail=SKIPPED_ALL, stderr_tail=stderr)


def test_a_finished_run_whose_optimizer_never_stepped_is_no_update() -> None:
    verdict = classify(never_stepped())
    assert verdict.label == "no_update:optimizer_idle", verdict.reason
    assert "ran to its end (exit status 0, 0 losses reported)" in verdict.reason
    assert verdict.evidence["optimizer_updates"] == 0
    assert "skips `optimizer.update" in verdict.hint


def test_a_crash_before_the_first_update_stays_a_crash() -> None:
    crashed = never_stepped(1, "Traceback (most recent call last):\n  File \"t.py\", line 3, "
                               "in <module>\nValueError: no rows\n")
    assert classify(crashed).label == "crash:ValueError"
