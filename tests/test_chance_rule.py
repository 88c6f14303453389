"""`not_learning.chance`: a classifier whose accuracy stays at exp(-loss), the accuracy a
uniform guess with that loss gives, while the loss does not fall. Checked on that shape and
on the correct shapes near it: a slow language-model fine-tune (token accuracy far above
exp(-loss)), a two-class problem (judged only at ln 2 itself), a loss that falls, a summed loss."""

from __future__ import annotations

import math

from mlxprobe.judging.chance import at_chance
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def run(losses: list[float], accs: list[float], name: str = "acc") -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 20 * (i + 1), "t": float(i),
                "loss": loss, "metrics": {"ce": loss, name: acc}}
               for i, (loss, acc) in enumerate(zip(losses, accs))]
    return RawResult(records=records, exit_code=0, watched=True)


NOISE = [0.047, 0.156, 0.109, 0.141, 0.094, 0.125, 0.078, 0.109]


def flat(level: float, n: int = 24) -> list[float]:
    return [level * (1 - 0.0005 * i) + 0.01 * math.sin(i) for i in range(n)]


def test_accuracy_at_a_uniform_guess_with_a_flat_loss_is_not_learning_chance():
    verdict = classify(run(flat(2.33), [NOISE[i % 8] for i in range(24)]))
    assert (verdict.kind, verdict.detail) == ("not_learning", "chance")
    assert verdict.evidence["classes_from_loss"] == round(1 / verdict.evidence[
        "chance_from_loss"], 1)


def test_a_slow_language_model_fine_tune_is_not_at_chance():
    assert at_chance(run(flat(2.3), [0.44 + 0.001 * i for i in range(24)])) is None


def test_two_classes_at_ln2_with_a_flat_loss_are_not_learning_chance():
    losses = [math.log(2) + 0.002 * math.sin(i) + 0.002 * (12 - i) / 12 for i in range(12)]
    verdict = classify(run(losses, [0.515 - 0.01 * (i % 2) for i in range(12)]))
    assert (verdict.kind, verdict.detail) == ("not_learning", "chance")
    assert "one permutation" in verdict.hint


def test_two_classes_off_ln2_or_above_chance_accuracy_are_not_judged():
    assert at_chance(run(flat(0.60), [0.5] * 24)) is None
    assert at_chance(run(flat(0.69), [0.66] * 24)) is None
    assert at_chance(run(flat(0.3), [0.9] * 24)) is None


def test_two_classes_under_heavy_label_noise_fall_to_their_floor_and_pass():
    """45% label noise: the best loss is H(0.55) = 0.688, reached from ~0.70 (a fall of
    > 1%), train accuracy ~0.55: learning, not chance."""
    losses = [0.688 + 0.014 * 0.8 ** i for i in range(24)]
    verdict = classify(run(losses, [0.5 + 0.05 * (1 - 0.8 ** i) for i in range(24)]))
    assert verdict.detail != "chance"


def test_a_falling_loss_is_learning_even_at_a_low_accuracy():
    losses = [2.3 * 0.97 ** i for i in range(24)]
    verdict = classify(run(losses, [NOISE[i % 8] for i in range(24)]))
    assert verdict.detail != "chance"


def test_a_summed_loss_gives_no_chance_level():
    assert at_chance(run(flat(147.0), [NOISE[i % 8] for i in range(24)])) is None


def test_a_percentage_accuracy_is_read_as_a_fraction():
    assert at_chance(run(flat(2.33), [100 * NOISE[i % 8] for i in range(24)], "acc")) \
        is not None


def test_a_short_run_at_chance_at_every_report_is_not_learning_chance():
    """vision_inputs_dropped_for_embedded as measured: 9 reports (too few for the trend
    rule), loss 1.375-1.386 at ln 4, val_acc 0.24-0.26."""
    losses = [1.3746, 1.3857, 1.3831, 1.3826, 1.3755, 1.3818, 1.3795, 1.3766, 1.3835]
    verdict = classify(run(losses, [0.24] * 4 + [0.263] * 5))
    assert (verdict.kind, verdict.detail) == ("not_learning", "chance")
    assert "every report of a short run" in verdict.reason and "images" in verdict.hint


def test_a_short_run_whose_loss_fell_at_all_or_beat_chance_is_not_judged():
    falling = [1.386, 1.38, 1.37, 1.33, 1.30, 1.25]
    assert classify(run(falling, [0.25] * 6)).detail != "chance"
    assert classify(run([1.386] * 3 + [1.39] * 3, [0.6] * 6)).detail != "chance"
    assert classify(run([1.386, 1.39, 1.385, 1.388], [0.25] * 4)).detail != "chance"


def test_the_chance_hint_names_adam_without_bias_correction_when_that_was_stepped():
    """adamw_port_no_bias_correction: AdamW at a PyTorch learning rate, MLX's default
    bias_correction=False, the model at chance."""
    raw = run(flat(2.33), [NOISE[i % 8] for i in range(24)])
    settings = {"bias_correction": False, "betas": [0.9, 0.999], "eps": 1e-8}
    stepped = [{"kind": "step", "source": "update", "step": 20 * (i + 1), "t": i - 0.5}
               for i in range(24)]
    raw = RawResult(records=[{"kind": "optimizer", "name": "AdamW", "t": 0.0},
                             {"kind": "optimizer", "name": "AdamW", "settings": settings,
                              "t": 0.1}, *stepped, *raw.records], exit_code=0, watched=True)
    hint = classify(raw).hint
    assert "bias_correction=True" in hint and "AdamW" in hint
    corrected = {**settings, "bias_correction": True}
    raw.records[1]["settings"] = corrected
    assert "bias_correction=True" not in classify(RawResult(
        records=raw.records, exit_code=0, watched=True)).hint


def test_a_loss_past_any_uniform_guess_is_not_judged_at_chance_and_does_not_fail():
    """exp(-loss) underflows to 0.0 past a loss of ~745 (a diverging run's reports)."""
    assert at_chance(run([1e4 * (i + 1) for i in range(8)], [0.5] * 8)) is None


def test_a_held_out_accuracy_at_chance_is_judged_over_a_training_one_above_it():
    # fresh28 gcnconv_no_self_loops: train_acc 0.36 on its own nodes, test_acc at 0.25
    losses = flat(1.33, 15)
    records = [{"kind": "progress", "source": "output", "step": 20 * (i + 1), "t": float(i),
                "loss": loss, "metrics": {"train_acc": 0.36,
                                                     "test_acc": 0.25 + 0.005 * (-1) ** i}}
               for i, loss in enumerate(losses)]
    verdict = classify(RawResult(records=records, exit_code=0, watched=True))
    assert verdict.label == "not_learning:chance"
    assert list(verdict.evidence["accuracy_medians"]) == ["test_acc"]
    assert "self-loops" in verdict.hint
    for record in records:  # a held-out accuracy above chance: never judged on training's
        record["metrics"] = {"train_acc": 0.25, "test_acc": 0.45}
    assert at_chance(RawResult(records=records, exit_code=0, watched=True)) is None
