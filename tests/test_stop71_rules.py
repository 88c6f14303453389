"""Stop 71's changes to the verdict rules, on the numbers of the runs that showed each:
- `no_update:part` stands down when the groups that never changed are one whole layer at the
  top of a stack (fresh243 `heron_slate_caption_ok`: a LLaVA-style model reads its vision
  tower's features before the last layer, so `vision_tower.layers.2` never trains);
- an idle optimizer beside losses that are exactly 0 at every report leads its fix with the
  filter that dropped every example (fresh243 `postage_ledger_tally`);
- the image-features known error also reads mlx-vlm's LLaVA merge message (fresh243
  `heron_slate_caption`).

Cost: < 0.5 s (no MLX, no process).
"""

from __future__ import annotations

from mlxprobe.judging import known_errors
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

TOWER = [f"vision_tower.layers.2.{part}" for part in (
    "fc1", "fc2", "layer_norm1", "layer_norm2", "self_attn.q_proj")]


def look(step: int, unchanged: list[str], count: int | None = None) -> dict:
    return {"kind": "params", "step": step, "updates": step, "look": step, "leaves": 40,
            "compared": 30, "changed": 30 - len(unchanged), "unchanged": unchanged,
            "unchanged_count": len(unchanged) if count is None else count, "nonfinite": [],
            "moved": 30 - len(unchanged), "shrunk": []}


def run(unchanged: list[str], count: int | None = None) -> RawResult:
    records = [{"kind": "step", "source": "update", "step": i, "t": float(i)}
               for i in range(1, 41)]
    records += [look(s, unchanged, count) for s in (5, 15, 25, 35)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_the_last_layer_of_a_tower_read_before_it_is_no_part_that_fails() -> None:
    assert classify(run(TOWER)).label == "pass"


def test_a_first_layer_a_whole_stack_or_two_modules_still_are() -> None:
    first = [name.replace("layers.2", "layers.0") for name in TOWER]
    assert classify(run(first)).label == "no_update:part"
    stack = ["layers.0.attn", "layers.0.mlp", "layers.1.attn", "layers.1.mlp"]
    assert classify(run(stack)).label == "no_update:part"
    assert classify(run([*TOWER, "head"])).label == "no_update:part"


def test_a_capped_list_or_a_sublayer_of_the_top_layer_is_not_read_as_the_layer() -> None:
    assert classify(run(TOWER, count=60)).label == "no_update:part"
    assert classify(run(TOWER[:2])).label == "no_update:part"


def idle(losses: list[float]) -> RawResult:
    records = [{"kind": "optimizer", "name": "AdamW", "t": 0.5}]
    records += [{"kind": "progress", "source": "output", "step": i + 1, "loss": value,
                 "t": 1.0 + i} for i, value in enumerate(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_losses_all_zero_beside_an_idle_optimizer_lead_with_the_emptied_data() -> None:
    v = classify(idle([0.0] * 12))
    assert v.label == "no_update:optimizer_idle"
    assert "len(tokenizer)" in v.hint and v.hint.index("filter") < v.hint.index("try/except")


def test_losses_that_move_beside_an_idle_optimizer_keep_the_plain_fix() -> None:
    v = classify(idle([2.0 - 0.01 * i for i in range(12)]))
    assert v.label == "no_update:optimizer_idle" and "len(tokenizer)" not in v.hint


def test_the_llava_merge_message_names_the_patch_features_and_the_splice() -> None:
    message = ("ValueError: Llava model supports only one image per input. Please check "
               "your input_ids and pixel_values.")
    found = known_errors.find(message)
    assert found is not None and found.name == "image_tokens_features"
    assert "patch features" in found.cause and "mx.concatenate" in found.fix


def successor(errors: bool) -> RawResult:
    """fresh244 `tollhouse_lantern_successor` as read: a TD loss that rose and held while the
    errors against the true successor representation and values fell ten-fold."""
    td = [1.007, 1.424, 1.462, 1.438, 1.423, 1.456, 1.522, 1.461, 1.362, 1.437, 1.427, 1.497,
          1.518, 1.454, 1.5, 1.483, 1.429, 1.522]
    records = [{"kind": "optimizer", "name": "Adam", "t": 0.1}]
    for i, value in enumerate(td):
        fall = 0.586 * (0.9 ** (i * 1.5)) if errors else 0.586
        records.append({"kind": "progress", "source": "output", "step": 100 * i + 1,
                        "loss": value, "loss_name": "td_loss", "t": 1.0 + i,
                        "metrics": {"sr_rmse": fall, "reward_loss": 0.003}})
        records.append({"kind": "step", "source": "update", "step": 100 * i + 1,
                        "t": 1.0 + i})
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_named_loss_that_rose_beside_an_error_against_the_truth_that_fell_is_no_stall() -> None:
    assert classify(successor(errors=True)).label == "pass"


def test_without_the_falling_error_the_same_loss_is_still_judged() -> None:
    assert classify(successor(errors=False)).label == "not_learning:trend"


def epochs(losses: list[float], accs: list[float]) -> RawResult:
    records = [{"kind": "optimizer", "name": "Adam", "t": 0.1}]
    for i, (loss, acc) in enumerate(zip(losses, accs)):
        records.append({"kind": "progress", "source": "output", "step": i, "loss": loss,
                        "t": 1.0 + i, "metrics": {"val_acc": acc}})
        records.append({"kind": "step", "source": "update", "step": i, "t": 1.0 + i})
    return RawResult(records=records, exit_code=0, watched=True)


# fresh244 `hive_waggle_charlm` as read: 12 symbols, an LSTM whose gates were matrix products
HIVE = [5.021, 2.590, 2.534, 2.522, 2.521, 2.535, 2.512, 2.522]
HIVE_ACC = [0.093, 0.093, 0.082, 0.082, 0.096, 0.076, 0.082, 0.079]


def test_a_loss_that_fell_from_above_uniform_to_uniform_is_predicting_at_chance() -> None:
    v = classify(epochs(HIVE, HIVE_ACC))
    assert v.label == "not_learning:chance"


def test_a_fall_below_the_uniform_loss_with_the_accuracy_rising_is_learning() -> None:
    fixed = [2.164, 1.414, 0.994, 0.762, 0.627, 0.547, 0.497, 0.469]
    accs = [0.515, 0.733, 0.863, 0.946, 0.980, 0.988, 0.990, 0.979]
    assert classify(epochs(fixed, accs)).label == "pass"
