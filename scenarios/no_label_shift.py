"""no-label-shift: logits and labels not shifted: the model learns to copy the current token.

Source: ../shared/seeds/002_da2a91385045b159.txt, "2. Slicing ... Before: Simplified (no
shift) due to unclear slice API" (its fix slices logits [0, seq_len - 1) and labels [1, seq_len)).
The seed claims the fix but shows no run; this scenario tests what the unshifted loss does.
Bug: `cross_entropy(model(tokens), tokens)`: position t is trained to output token t.
Symptom: the training loss collapses toward zero within ~30 steps, the run looks perfect,
yet the model is useless: it cannot predict the next token, which is all a LM is for.
Root cause: with causal attention, position t sees token t itself, so "predict the current
token" is solved by copying the input; nothing about the following token is learned, and the
confident copying makes the next-token predictions worse than at random init.
Fix: shift: predict `tokens[:, 1:]` from `tokens[:, :-1]` (`_lm.next_token_loss`).
Why a check: mlxprobe judges learning on the training loss, which falls here (by ~99%), so
only a check of the true next-token validation loss can see the bug.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), batch 8 x seq 32, AdamW lr 3e-3:
training loss 5.91 (step 1) -> 0.62 (step 10) -> 0.005 (step 50) -> 0.0011 (step 150); the
next-token validation loss 5.73 -> 5.67 (step 10) -> 11.7 (step 50) -> 12.4 (step 150), i.e.
far worse than at random init. The correct loop: validation 5.73 -> 2.86 at step 150.
Under mlxprobe (3 runs, identical numbers): broken -> wrong_result (check "val_loss fell by a
clear margin": 5.73 -> 12.40, last training loss 0.0011); fixed -> pass, loss 3.59 -> 2.62
(-27%), validation 5.73 -> 2.86 (-50%).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn

from ._lm import TinyLM, next_token_loss
from ._trainer import LossFn, check_val_drop, train_fresh

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "no-label-shift",
    "title": "labels not shifted: training loss -> 0, next-token loss gets worse",
    "source": ["002_da2a91385045b159.txt"],
    "variants": {"broken": "wrong_result", "fixed": "pass"},
    "budget_s": 60,
}

STEPS = 150


def unshifted_loss(model: TinyLM, tokens: mx.array) -> mx.array:
    """Cross-entropy of the logits at each position against the token AT that position."""
    return nn.losses.cross_entropy(model(tokens), tokens, reduction="mean")  # BUG: no shift


def _run(probe: Probe, loss_fn: LossFn) -> None:
    trained = train_fresh(probe, loss_fn, STEPS)
    check_val_drop(probe, trained.val_before, trained.val_after,
                   hint="shift: predict tokens[:, 1:] from tokens[:, :-1]",
                   last_train_loss=trained.last_loss)


def broken(probe: Probe) -> None:
    _run(probe, unshifted_loss)


def fixed(probe: Probe) -> None:
    _run(probe, next_token_loss)
