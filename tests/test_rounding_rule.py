"""`no_update.rounded`: most sampled values of the bfloat16/float16 weight matrices never
change (updates below half an ulp round away) while the loss falls little. The look's
share is read from a real bfloat16 model; the rule is checked on that shape and on the
correct shapes near it (a low-precision model that learns, a float32 model, a short run)."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
from probe_records import Records

from mlxprobe.inside.params import ParamWatch, same_share
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def test_same_share_counts_bit_identical_16_bit_values():
    assert same_share(bytes([1, 0, 2, 0, 3, 0, 4, 0]), bytes([1, 0, 9, 0, 3, 0, 8, 0])) == 0.5


def test_a_look_gives_the_share_of_bfloat16_weights_a_small_step_left_unchanged():
    model = nn.Linear(64, 64)
    model.set_dtype(mx.bfloat16)
    mx.eval(model.parameters())
    records = Records()
    watch = ParamWatch(records)  # type: ignore[arg-type]
    watch.saw_model(model, stepped=True)
    watch.after_eval((model.parameters(),), {}, step=1)
    model.update({"weight": model.weight + 1e-6})  # below half a bfloat16 ulp at |w| > 1e-3
    mx.eval(model.parameters())
    watch.next_at = 0.0
    watch.after_eval((model.parameters(),), {}, step=2)
    assert records.got[-1]["low_same_share"] >= 0.9
    assert records.got[-1]["low_matrices"] == 1


def look(updates: int, share: float) -> dict:
    return {"kind": "params", "step": updates, "updates": updates, "leaves": 6,
            "compared": 3, "changed": 3, "unchanged": [], "unchanged_count": 0,
            "nonfinite": [], "low_same_share": share, "low_matrices": 3}


def run(looks: list[dict], losses: list[float]) -> RawResult:
    reports = [{"kind": "progress", "source": "output", "step": 40 * (i + 1), "t": float(i),
                "loss": loss} for i, loss in enumerate(losses)]
    return RawResult(records=[*looks, *reports], exit_code=0, watched=True)


CREEPING = [1.31 - 0.012 * i for i in range(15)]
LOOKS = [look(1, 1.0)] + [look(u, 0.59) for u in range(40, 600, 40)]


def test_most_low_precision_values_unchanged_with_a_creeping_loss_is_no_update_rounded():
    verdict = classify(run(LOOKS, CREEPING))
    assert (verdict.kind, verdict.detail) == ("no_update", "rounded")
    assert "float32" in verdict.hint


def test_a_low_precision_model_whose_loss_falls_by_half_is_never_judged():
    falling = [1.2 * 0.85 ** i for i in range(15)]
    assert classify(run(LOOKS, falling)).detail != "rounded"


def test_a_short_run_is_not_enough():
    assert classify(run([look(1, 1.0), look(30, 0.6), look(60, 0.6)], CREEPING)).detail \
        != "rounded"


def test_values_that_changed_are_not_judged():
    moving = [look(1, 1.0)] + [look(u, 0.1) for u in range(40, 600, 40)]
    assert classify(run(moving, CREEPING)).detail != "rounded"
