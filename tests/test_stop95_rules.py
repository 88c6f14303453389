"""Stop 95's changes to the verdict rules, on the numbers of the runs that showed each:
- `no_update:part` over groups that all lie in a part named for another modality (a vision
  tower, an audio encoder, a multimodal projector) leads its fix with the placeholder tokens
  through which that modality's features reach the loss (fresh373 `quarry_ledger_stencil`,
  mlx-vlm issue 830: "<image>" in the prompt where the tokenizer registers "<|image|>", the
  vision tower's layers unchanged over 48 looks while the text side trained).

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
