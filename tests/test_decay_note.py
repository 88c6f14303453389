"""`judging.decay`: a not_learning hint led by the cap an Adam-style optimizer's decoupled
weight decay puts on the weights (fresh56 `kwh_weekly_adamw`: AdamW's default 0.01 held an
intercept at 100 where the target's mean is 470), only when the loss fell before it stopped."""

from __future__ import annotations

from mlxprobe.judging import decay
from mlxprobe.watching.facts import RawResult


def run(losses: list[float], name: str = "AdamW", weight_decay: float = 0.01) -> RawResult:
    records = [{"kind": "optimizer", "name": name,
                "settings": {"weight_decay": weight_decay, "eps": 1e-8}}]
    records += [{"kind": "progress", "source": "output", "step": 100 * (i + 1),
                 "t": float(i), "loss": v} for i, v in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


HELD = [456.7, 335.5, 358.8, 369.2, 371.4, 369.4, 370.6, 371.0, 370.2, 370.9, 371.1]


def test_a_loss_held_back_under_adamw_decay_names_the_cap():
    note = decay.note(run(HELD))
    assert "1 / weight_decay = 100" in note and "weight_decay=0.0" in note


def test_no_decay_another_optimizer_or_a_loss_flat_from_the_start_gets_no_note():
    assert decay.note(run(HELD, weight_decay=0.0)) == ""
    assert decay.note(run(HELD, name="SGD")) == ""
    assert decay.note(run([1.3836, 1.3816] + [1.3816] * 10)) == ""
