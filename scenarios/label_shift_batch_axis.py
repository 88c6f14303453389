"""label-shift-batch-axis: labels shifted with `input_ids[1:]` (the batch axis), not `[:, 1:]`.

Source: ../shared/seeds/004_5bdaaef4cda6c98e.txt, "Fix 1: Use MLX Built-in Cross Entropy
Loss": its "FIXED CODE" (verbatim in `seed_fixed_loss`) shifts the logits on the sequence axis,
`logits[:, :-1, :]`, but the labels with `input_ids[1:]  # Remove first label`.
Bug: `input_ids[1:]` drops the first SEQUENCE of the batch, not the first token of each.
Symptom: the first training step raises `ValueError: Targets shape (231,) does not match
logits shape (256, 256).` (batch 8 of 33-token windows); at batch 1, `Targets shape (0,) ...
(32, 256)`: the labels are empty.
Root cause: the shifted logits hold B x (L-1) positions, the labels (B-1) x L tokens; after the
flattening reshapes these differ unless B == L, and `nn.losses.cross_entropy` checks that the
targets' shape is the logits' shape without the class axis.
Fix: `input_ids[:, 1:]`, the sequence axis (what `_lm.next_token_loss` does).

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), windows of L = 33 tokens:
  - batch 8: ValueError from cross_entropy's shape check at the first `value_and_grad` call
    (while tracing: no step completes); batch 1: ValueError likewise (labels of shape (0,));
    without that check (a hand-written `take_along_axis` gather) batch 1 would also fail:
    "[broadcast_shapes] Shapes (32) and (0) cannot be broadcast". No NaN, no silent run.
  - the silent case exists: batch == window length (33 x 33) passes the shape check, and the
    labels are then tokens of other rows at other offsets. That loop trains without error
    and reaches only the unigram level: validation loss 5.73 -> 3.36 after 200 steps, where
    the correct loss at the same batch reaches 2.67. (Not a variant here: 200 steps of 33
    rows took 6.9 s, over a variant's time budget.)
Under mlxprobe (3 runs, identical): broken and broken_batch1 -> crash:ValueError with the
messages above, 0 steps; fixed -> pass, loss 3.59 -> 2.62 (-27%), validation loss 5.73 ->
2.86 (-50%).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn

from ._lm import TinyLM
from ._trainer import check_val_drop, train_fresh

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "label-shift-batch-axis",
    "title": "labels shifted on the batch axis (input_ids[1:]): cross_entropy shape error",
    "source": ["004_5bdaaef4cda6c98e.txt"],
    "variants": {"broken": "crash:ValueError", "broken_batch1": "crash:ValueError",
                 "fixed": "pass"},
    "budget_s": 60,
}

STEPS = 150


def seed_fixed_loss(model: TinyLM, input_ids: mx.array) -> mx.array:
    """seed 004's "FIXED CODE" loss, as published."""
    logits = model(input_ids)
    shift_logits = logits[:, :-1, :]  # Remove last prediction
    shift_labels = input_ids[1:]  # BUG: removes the first sequence, not the first label
    logits_flat = shift_logits.reshape(-1, shift_logits.shape[-1])
    labels_flat = shift_labels.reshape(-1)
    return nn.losses.cross_entropy(logits_flat, labels_flat, reduction="mean")


def sequence_shift_loss(model: TinyLM, input_ids: mx.array) -> mx.array:
    """The same loss with the labels shifted on the sequence axis."""
    logits = model(input_ids)
    shift_logits = logits[:, :-1, :]
    shift_labels = input_ids[:, 1:]  # the fix
    logits_flat = shift_logits.reshape(-1, shift_logits.shape[-1])
    labels_flat = shift_labels.reshape(-1)
    return nn.losses.cross_entropy(logits_flat, labels_flat, reduction="mean")


def broken(probe: Probe) -> None:
    train_fresh(probe, seed_fixed_loss, STEPS)


def broken_batch1(probe: Probe) -> None:
    train_fresh(probe, seed_fixed_loss, STEPS, batch=1)


def fixed(probe: Probe) -> None:
    trained = train_fresh(probe, sequence_shift_loss, STEPS)
    check_val_drop(probe, trained.val_before, trained.val_after,
                   hint="shift labels on the sequence axis: input_ids[:, 1:]")
