"""`judging.stale_eval`: a held-out metric that reads one value at every report while the
training loss falls most of the way (a model copied before training, evaluated instead of
the trained one), and the runs it must leave alone: a metric at its bound, a training loss
that fell little, a metric that moves, too few reports."""

from __future__ import annotations

import pytest

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(held, name: str = "test_psnr", reports: int = 8, end: float = 0.05) -> RawResult:
    """`reports` reports of a training loss falling from 1.0 to `end` and of `name` at
    `held(i)`."""
    records = []
    for i in range(reports):
        loss = 1.0 + (end - 1.0) * i / (reports - 1)
        records.append({"kind": "progress", "source": "output", "step": 50 * (i + 1),
                        "t": 0.5 * (i + 1), "loss": loss, "metrics": {name: held(i)}})
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_held_out_metric_frozen_while_the_loss_falls_is_wrong_result():
    v = classify(run(lambda i: 9.59))
    assert v.label == "wrong_result:stale_evaluation"
    assert v.evidence["metric"] == "test_psnr" and v.evidence["reports"] == 8
    assert v.evidence["loss_fall"] == pytest.approx(0.95)
    assert "deepcopy" in v.hint and "eval_model.update(model.parameters())" in v.hint


@pytest.mark.parametrize("kwargs", [
    {"held": lambda i: 1.0, "name": "val_acc"},  # solved from the first report
    {"held": lambda i: 0.0, "name": "val_loss"},
    {"held": lambda i: 9.59, "end": 0.5},  # the loss fell 50%: not enough
    {"held": lambda i: 9.59 + i},  # it moves
    {"held": lambda i: 9.59, "reports": 4},
    {"held": lambda i: 9.59, "name": "psnr"},  # not a held-out name
    {"held": lambda i: 0.55, "name": "val_acc"},  # a rate over a fixed set: may sit still
    {"held": lambda i: 0.3, "name": "test_f1"},
])
def test_a_bound_a_small_fall_a_moving_metric_or_few_reports_are_not_judged(kwargs):
    assert classify(run(**kwargs)).label != "wrong_result:stale_evaluation"


def test_a_fixed_reference_beside_a_held_out_metric_that_moves_is_not_stale() -> None:
    """fresh199 `cullet_sorter_betavae_jsonl`: the mean spectrum's error, fixed, beside the
    model's own held-out reconstruction falling."""
    raw = run(lambda i: 19.7699, name="val_recon_meanspec", reports=14)
    for i, record in enumerate(raw.records):
        record["metrics"]["val_recon"] = 1.84 * 0.85 ** i
    assert classify(raw).label != "wrong_result:stale_evaluation"
    assert classify(run(lambda i: 19.7699, name="val_recon_meanspec", reports=14)).label == \
        "wrong_result:stale_evaluation"
