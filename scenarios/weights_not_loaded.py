"""weights-not-loaded: checkpoint keys looked up with a `model.` prefix, missing ones skipped.

Source: ../shared/seeds/002_da2a91385045b159.txt, "1. Weight Loading ✅ FIXED ... Loads
pre-trained weights from safetensors files": its `load_weights_into_model` looks every parameter
up as `format!("model.{}", param_name)` and silently skips the ones it does not find.
Bug: the checkpoint's keys are the model's own parameter names (`embed.weight`,
`blocks.0.attn.q_proj.weight`, ...); none is found under `model.<name>`, nothing is loaded,
and `load_weights(..., strict=False)` accepts the empty list without a word.
Symptom: "fine-tuning" a pre-trained model starts from random weights: the first loss is
about ln 256 (5.73 measured) instead of the pre-trained loss, yet training runs and the loss
falls.
Root cause: a key-mapping mismatch hidden by a lenient loader (skip what is missing,
strict=False).
Fix: use the file's keys as they are (it was saved from `tree_flatten(model.parameters())`,
so the right mapping is the identity) and load with `strict=True`, so any missing or extra key
raises ValueError (measured: "Missing 12 parameters" for an empty list, "Received 12
parameters not in model" for `model.`-prefixed keys).

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), the default `_checkpoint` (300 steps,
12 arrays): after the seed's loader the validation loss is 5.726 (a random init sits a bit
above ln 256 = 5.545), exactly make_model(0)'s, and 0 of 12 arrays equal the checkpoint's;
the pre-trained checkpoint's is 2.706, and the fixed loader reproduces it (12/12). Renaming
the file's keys to `model.<name>` and loading them with `strict=False` is just as silent
(5.726). The fine-tuning that follows runs 60 steps on the upper-cased corpus of `_qlora`
(on its own corpus the checkpoint's training loss fell only 3.8% in 60 steps, validation
2.71 -> 2.75: the fixed variant would read as not_learning). It trains in both variants,
which is why the bug hides: from random, training loss 5.77 -> 2.77 and upper-case
validation 5.73 -> 3.01; from the checkpoint, upper-case validation 5.05 -> 2.89.
Under mlxprobe (3 runs, identical numbers): broken -> wrong_result (check: loaded 5.726 vs
pre-trained 2.706, max gap 0.1, 0/12 arrays); fixed -> pass (2.706 vs 2.706, 12/12; loss
3.50 -> 2.71, -23%; fine-tune validation 5.05 -> 2.89, -43%).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import mlx.core as mx
from mlx.utils import tree_flatten

from ._checkpoint import pretrained_checkpoint, pretrained_loss
from ._lm import TinyLM, evaluate, make_model, next_token_loss
from ._loops import check_drop
from ._qlora import finetune_split
from ._text import batches, split
from ._trainer import BATCH, MIN_VAL_DROP, SEQ, train

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "weights-not-loaded",
    "title": "checkpoint keys mismatched and loaded with strict=False: weights stay random",
    "source": ["002_da2a91385045b159.txt"],
    "variants": {"broken": "wrong_result", "fixed": "pass"},
    "budget_s": 60,
}

FINETUNE_STEPS = 60
MAX_LOAD_GAP = 0.1  # nats between the loaded model's validation loss and the checkpoint's


def load_like_seed(model: TinyLM, path: Path) -> None:
    """seed 002's `load_weights_into_model`: look up "model.<name>", skip what is missing."""
    weights = mx.load(str(path))
    names = [name for name, _ in tree_flatten(model.parameters())]
    found = [(name, weights[f"model.{name}"]) for name in names if f"model.{name}" in weights]
    model.load_weights(found, strict=False)  # BUG: an empty list loads nothing, silently


def load_strict(model: TinyLM, path: Path) -> None:
    """The file's keys as they are, every one required to match: a mismatch raises."""
    model.load_weights(list(mx.load(str(path)).items()), strict=True)


def _arrays_from_checkpoint(model: TinyLM, path: Path) -> str:
    """How many of the model's arrays equal the checkpoint's, e.g. "12/12"."""
    saved = mx.load(str(path))
    params = tree_flatten(model.parameters())
    same = sum(name in saved and mx.array_equal(value, saved[name]).item()
               for name, value in params)
    return f"{same}/{len(params)}"


def _check_loaded(probe: Probe, model: TinyLM, path: Path) -> None:
    loaded, pretrained = evaluate(model, split()[1]), pretrained_loss()
    probe.check("validation loss after loading matches the checkpoint's",
                abs(loaded - pretrained) <= MAX_LOAD_GAP,
                hint="model.load_weights(list(mx.load(path).items()), strict=True)",
                val_loss_loaded=loaded, val_loss_pretrained=pretrained,
                random_level=math.log(256), max_gap=MAX_LOAD_GAP,
                arrays_equal_to_checkpoint=_arrays_from_checkpoint(model, path))


def _run(probe: Probe, load: Callable[[TinyLM, Path], None]) -> None:
    path = pretrained_checkpoint()
    model = make_model(0)
    load(model, path)
    _check_loaded(probe, model, path)
    ft_train, ft_valid = finetune_split()
    before = evaluate(model, ft_valid)
    train(probe, model, next_token_loss, batches(ft_train, BATCH, SEQ, seed=1), FINETUNE_STEPS)
    check_drop(probe, "finetune_val_loss", before, evaluate(model, ft_valid), MIN_VAL_DROP)


def broken(probe: Probe) -> None:
    _run(probe, load_like_seed)


def fixed(probe: Probe) -> None:
    _run(probe, load_strict)
