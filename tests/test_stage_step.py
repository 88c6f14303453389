"""`judging/phases.py`'s stage step: a printed step that held one value over several reports
and went up by one, with the loss jumping back above where the curve before it began, starts
a new curve (a stage counter read as the step); an epoch counter that steps with a loss that
keeps falling, or a jump with no such step, does not."""

from __future__ import annotations

from mlxprobe.judging import phases
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

STAGE_A = [0.2593, 0.0751, 0.0644, 0.0671, 0.0665, 0.0611, 0.0638, 0.0649]
STAGE_B = [1.0766, 0.8253, 0.8093, 0.8025, 0.7838, 0.7688, 0.7682, 0.7685]


def run(losses: list[float], steps: list[int]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": s, "t": float(i), "loss": v,
                "metrics": {"score": 97.0}} for i, (v, s) in enumerate(zip(losses, steps))]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_held_step_that_goes_up_by_one_with_a_jump_starts_a_stage():
    """fresh225 `marquetry_veneer_bnstage_bars`: `stage A (1/2) ep 3/8` read as step 1."""
    raw = run(STAGE_A + STAGE_B, [1] * 8 + [2] * 8)
    assert phases.last_start(raw, STAGE_A + STAGE_B) == 8
    assert classify(raw).kind == "pass"


def test_a_step_that_moves_at_every_report_or_a_jump_without_a_step_stays_one_curve():
    losses = STAGE_A + STAGE_B
    assert phases.last_start(run(losses, list(range(1, 17))), losses) == 0
    assert phases.last_start(run(losses, [1] * 16), losses) == 0
