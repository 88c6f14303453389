"""Stop 95's changes to the verdict rules, on the numbers of the runs that showed each:
- `no_update:part` over groups that all lie in a part named for another modality (a vision
  tower, an audio encoder, a multimodal projector) leads its fix with the placeholder tokens
  through which that modality's features reach the loss (fresh373 `quarry_ledger_stencil`,
  mlx-vlm issue 830: "<image>" in the prompt where the tokenizer registers "<|image|>", the
  vision tower's layers unchanged over 48 looks while the text side trained);
- a loss pinned at ln 2 also names a contrastive loss whose one negative is the positive
  itself (fresh376 `quarry_ledger_infonce`, mlx-embeddings-lora b92ac6c);
- a KeyError read from a configuration names the settings model families name differently
  (fresh376 `shuttle_weave_tokenkey`, mlx-vlm PR 720: `image_token_index` against Qwen2-VL's
  `image_token_id`);
- a report whose metric is a flag or a text one report and a number the next is no term of
  the loss (`composed.terms`): a full `pytest -n 2` run's property test drew one, and
  `classify` raised TypeError.

Cost: < 0.5 s (no MLX, no process).
"""

from __future__ import annotations

from mlxprobe.judging.params import modality
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

TOWER = ["vision_tower.layers.0", "vision_tower.layers.2"]


def look(step: int, unchanged: list[str]) -> dict:
    return {"kind": "params", "step": step, "updates": step, "look": step, "leaves": 22,
            "compared": 22, "changed": 22 - len(unchanged), "unchanged": unchanged,
            "unchanged_count": len(unchanged), "nonfinite": [], "moved": 20, "shrunk": []}


def run(unchanged: list[str]) -> RawResult:
    records = [{"kind": "step", "source": "update", "step": i, "t": float(i)}
               for i in range(1, 41)]
    records += [look(s, unchanged) for s in (5, 15, 25, 35)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_a_vision_tower_that_never_trains_points_at_its_placeholder_tokens() -> None:
    v = classify(run(TOWER))
    assert v.label == "no_update:part" and v.evidence["never_changed"] == TOWER
    assert "placeholder token" in v.hint and "processor.image_token" in v.hint


def test_a_text_layer_among_them_keeps_the_plain_fix() -> None:
    v = classify(run([*TOWER, "layers.1.mlp"]))
    assert v.label == "no_update:part" and "processor.image_token" not in v.hint


def test_modality_reads_every_part_of_a_group_name() -> None:
    assert modality(["model.audio_encoder.conv1", "multi_modal_projector"])
    assert not modality(["encoder.layers.0", "vision_tower.layers.1"])
    assert not modality([])


def test_a_loss_pinned_at_ln2_names_a_negative_that_is_the_positive() -> None:
    records = [{"kind": "progress", "source": "output", "step": 25 * (i + 1), "t": float(i),
                "loss": 0.693, "loss_name": "train_loss", "metrics": {"train_loss": 0.693}}
               for i in range(12)]
    verdict = classify(RawResult(records=records, exit_code=0, watched=True))
    assert verdict.label == "not_learning:zero_logit"
    assert "negative_emb = positive_emb" in verdict.hint and "in-batch negatives" in verdict.hint


def trace(line: str) -> str:
    return ("Traceback (most recent call last):\n"
            '  File "/w/train.py", line 158, in __getitem__\n'
            f"    {line}\n"
            "KeyError: 'image_token_index'\n")


def crashed(line: str) -> RawResult:
    return RawResult(records=[{"kind": "start", "t": 0.0, "source": "bootstrap"}], exit_code=1,
                     watched=True, stderr_tail=trace(line))


def test_a_key_missing_from_a_config_names_its_other_spellings() -> None:
    verdict = classify(crashed('image_token_index = self.config["image_token_index"]'))
    assert verdict.label == "crash:KeyError", verdict.reason
    assert "`image_token_id` in Qwen2-VL's" in verdict.hint


def test_a_key_missing_from_another_dict_keeps_the_plain_hint() -> None:
    verdict = classify(crashed('image_token_index = batch["image_token_index"]'))
    assert verdict.label == "crash:KeyError" and "Qwen2-VL" not in verdict.hint


def test_a_metric_that_is_text_at_one_report_is_no_term_of_the_loss() -> None:
    records = [{"kind": "progress", "source": "output", "step": i, "t": float(i),
                "loss": 2.0 ** i, "metrics": {"flag": True, "delta": "nan" if i == 18 else
                                              2.0 ** (i - 1), "part": 2.0 ** (i - 1)}}
               for i in range(1, 21)]
    verdict = classify(RawResult(records=records, exit_code=0, watched=True))
    assert verdict.label.startswith("diverged"), verdict.label
