"""`inside/loads`: which given weights a `load_weights` call put into the model, read from
names only (a list's, a dict's, an .npz's or a .safetensors file's index), on a real MLX
model; and the fix that names a non-strict load that missed (b11_finetune_nonstrict_prefix,
fresh11: a checkpoint saved under `encoder.` loaded into the encoder itself)."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from mlxprobe.inside.loads import matching
from mlxprobe.judging import program
from mlxprobe.watching.facts import RawResult


def encoder() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def prefixed(model: nn.Module) -> dict[str, mx.array]:
    return {f"encoder.{k}": v for k, v in tree_flatten(model.parameters())}


def test_a_prefixed_checkpoint_matches_nothing_from_a_file_or_a_list(tmp_path: Path) -> None:
    model = encoder()
    for suffix in (".npz", ".safetensors"):
        path = str(tmp_path / f"ckpt{suffix}")
        if suffix == ".npz":
            mx.savez(path, **prefixed(model))
        else:
            mx.save_safetensors(path, prefixed(model))
        found = matching(model, path, strict=False)
        assert found is not None and found["matched"] == 0 and found["without_weight"] == 4
        assert found["unmatched_names"][0].startswith("encoder.")
    found = matching(model, list(prefixed(model).items()), strict=False)
    assert found is not None and (found["given"], found["matched"]) == (4, 0)


def test_weights_under_the_model_s_own_names_all_match() -> None:
    model = encoder()
    found = matching(model, tree_flatten(model.parameters()), strict=True)
    assert found is not None and found["unmatched"] == 0 and found["without_weight"] == 0


def test_the_fix_names_a_non_strict_load_that_missed_and_not_a_full_one() -> None:
    missed = {"kind": "weights", "model": "Encoder", "strict": False, "given": 6,
              "matched": 0, "unmatched": 6, "unmatched_names": ["encoder.layers.0.bias"],
              "parameters": 4, "without_weight": 4, "without_weight_names": ["layers.0.bias"]}
    note = program.load_note(RawResult(records=[missed], exit_code=0, watched=True))
    assert "matched 0 of the 6" in note and "strict=True" in note
    full = {**missed, "matched": 6, "unmatched": 0, "without_weight": 0}
    assert program.load_note(RawResult(records=[full], exit_code=0, watched=True)) == ""
