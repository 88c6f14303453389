"""Stop 58's changes to the verdict rules, on the numbers of the run that showed each:
`diverged:spike` stands down on a peak printed under another name than most of its curve's
reports (fresh124 `maple_sap_sgdr_zero_warm`, a correct loop whose end-of-cycle line gave the
loss its validation RMSE, 20x its training Huber).

Cost: < 0.5 s (no MLX, no process).
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

# fresh124 `maple_sap_sgdr_zero_warm` as read: three warm-restart cycles of a training Huber,
# each followed by a line `-> end of cycle k: val MAE 0.135 L/tap/day  RMSE 0.173  (linear
# rule 0.593, ...)` whose RMSE the reader takes as the line's loss
CYCLES = [[0.0216, 0.0138, 0.0117], [0.0126, 0.0101, 0.009, 0.0085, 0.0082, 0.008],
          [0.0089, 0.0085, 0.0082, 0.0079, 0.0077, 0.0076, 0.0073, 0.0072, 0.0071, 0.0069,
           0.0069, 0.0068]]
RMSE = [0.22, 0.183, 0.173]


def run(end_name: str) -> RawResult:
    records = []
    for k, (huber, rmse) in enumerate(zip(CYCLES, RMSE)):
        named = [(v, "huber") for v in huber] + [(rmse, end_name)]
        records += [{"kind": "progress", "source": "output", "step": k + 1, "loss": v,
                     "loss_name": name, "metrics": {"cycle": float(k + 1)}} for v, name in named]
    for i, record in enumerate(records):
        record["t"] = float(i)
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_peak_printed_under_another_name_than_the_curve_is_no_spike() -> None:
    assert classify(run("rmse")).kind == "pass"


def test_a_peak_under_the_curves_own_name_is_still_a_spike() -> None:
    assert classify(run("huber")).label == "diverged:spike"
