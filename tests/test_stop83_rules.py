"""Stop 83's changes to the verdict rules, on the texts of the runs that showed each:
- two reports after the last update that print one whole-number setting with two values are
  two settings of an evaluation, not one model degraded (fresh299 `beadwire_chain_relay`,
  correct: `final 20-step rollout mse 8.02e-06 ...`, then `final 80-step rollout mse 8.83e-05
  ...`, read as `wrong_result:degraded`).

Cost: < 1 s (texts in memory, no process).
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser

TRAINING = """iter   100  lr 1.72e-03  accel loss 0.1580
iter   200  lr 1.02e-03  accel loss 0.0954
iter   300  lr 3.15e-04  accel loss 0.0945
iter   400  lr 2.00e-05  accel loss 0.0945"""
HORIZONS = """final 20-step rollout mse 8.02e-06  const-velocity 5.28e-03  at-rest 4.26e-03
final 80-step rollout mse 8.83e-05  const-velocity 4.96e-02  at-rest 1.85e-02"""
REPEATED = """final 20-step rollout mse 8.02e-06  const-velocity 5.28e-03  at-rest 4.26e-03
final 20-step rollout mse 8.83e-05  const-velocity 5.28e-03  at-rest 4.26e-03"""


def rollouts(closing: str) -> RawResult:
    """400 updates with four training reports, then two rollout reports after the last."""
    parser = ProgressParser()
    updates = [{"kind": "step", "source": "update", "step": i + 1, "t": i * 0.01}
               for i in range(400)]
    lines = TRAINING.splitlines() + closing.splitlines()
    reports = [{**parser.parse(line), "t": 1.0 + i} for i, line in enumerate(lines)]
    return RawResult(records=updates + reports, exit_code=0, watched=True)


def test_two_horizons_of_one_rollout_are_two_settings() -> None:
    """fresh299 `beadwire_chain_relay` (correct): the 80-step rollout errs 10x the 20-step."""
    assert classify(rollouts(HORIZONS)).label == "pass"


def test_the_same_horizon_read_10x_worse_is_the_model_degraded() -> None:
    verdict = classify(rollouts(REPEATED))
    assert verdict.label == "wrong_result:degraded"
    assert verdict.evidence["metric"] == "mse"
