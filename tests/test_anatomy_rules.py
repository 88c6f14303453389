"""The census's structure facts in verdicts (`judging/anatomy.py`): LoRA adapters that are
all frozen while the optimizer steps are `no_update:frozen_adapters`; adapters that train, a
run of too few steps or a model without adapters are not; modules kept under a private
attribute lead the learning fix."""

from __future__ import annotations

from mlxprobe.judging import anatomy
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def census(adapters: dict | None = None, hidden: dict | None = None) -> dict:
    return {"model": "Net", "trainable_matrices": 1, "trainable_values": 49,
            "frozen_matrices": 6, "frozen_quantized": 0, "trainable_dtypes": {"float32": 49},
            "hidden": hidden or {},
            "adapters": adapters or {"count": 0, "trainable": 0, "frozen_names": []}}


def run(found: dict, steps: int = 40, losses: list[float] | None = None) -> RawResult:
    looks = [{"kind": "params", "updates": 1, "look": 1, "t": 0.0, "census": [found]}]
    losses = losses or [1.05 - 0.002 * i for i in range(steps)]
    reports = [{"kind": "progress", "source": "output", "step": i + 1, "t": 0.01 * i,
                "loss": v, "loss_name": "mse", "metrics": {"mse": v}}
               for i, v in enumerate(losses[:steps])]
    return RawResult(records=looks + reports, exit_code=0, watched=True)


FROZEN = {"count": 4, "trainable": 0, "frozen_names": ["fc1.lora_a", "fc1.lora_b"]}


def test_adapters_all_frozen_while_the_optimizer_steps_are_no_update():
    verdict = classify(run(census(FROZEN)))
    assert verdict.label == "no_update:frozen_adapters"
    assert "fc1.lora_a" in verdict.reason and "49 values" in verdict.reason
    assert "freeze" in verdict.hint and "first" in verdict.hint
    assert verdict.evidence["census"]["adapters"] == FROZEN


def test_adapters_that_train_too_few_steps_or_no_adapters_are_left_alone():
    training = {"count": 4, "trainable": 4, "frozen_names": []}
    assert classify(run(census(training))).kind != "no_update"
    assert classify(run(census(FROZEN), steps=3)).kind != "no_update"
    assert classify(run(census())).kind != "no_update"


def test_modules_under_a_private_name_lead_the_learning_fix():
    found = census(hidden={"_layers": 6154})
    note = anatomy.notes(run(found))
    assert "`_layers`" in note and "6154" in note and "self.layers" in note
    assert anatomy.notes(run(census())) == ""


def test_modules_in_a_tuple_are_told_to_go_in_a_list():
    note = anatomy.notes(run(census(hidden={"blocks": 40})))
    assert "`blocks`" in note and "a list, not a tuple" in note and "rename" not in note


def test_modules_in_a_tuple_are_no_update_and_a_private_name_is_left_to_the_fix():
    verdict = classify(run(census(hidden={"blocks": 2080})))
    assert verdict.label == "no_update:hidden_modules" and "`blocks`" in verdict.reason
    assert "a list, not a tuple" in verdict.hint
    assert classify(run(census(hidden={"_teacher": 2080}))).kind != "no_update"
    assert classify(run(census(hidden={"blocks": 2080}), steps=3)).kind != "no_update"


def test_trainable_adapters_that_never_moved_lead_the_no_update_fix():
    """fresh29 moe_expert_lora_names: adapters under new attribute names, never called."""
    idle = {"count": 24, "trainable": 24, "frozen_names": []}
    looks = [{"kind": "params", "step": s, "updates": s, "leaves": 24, "compared": 12,
              "changed": 0, "unchanged": ["moe.experts.0.gate_proj"], "unchanged_count": 12,
              "nonfinite": [], "t": s / 10, **({"census": [census(idle)]} if s == 10 else {})}
             for s in (10, 20, 30, 40)]
    verdict = classify(RawResult(records=looks, exit_code=0, watched=True))
    assert verdict.label == "no_update:params"
    assert verdict.hint.startswith("the 24 LoRA adapter parameters are trainable")
    assert anatomy.idle_adapters_note(run(census(FROZEN))) == ""
    assert anatomy.idle_adapters_note(run(census())) == ""
