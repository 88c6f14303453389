"""manual-log-softmax: `-mean(log_softmax(logits))` over the whole vocabulary, no label gather.

Source: ../shared/seeds/004_5bdaaef4cda6c98e.txt, "Issue 1: Incorrect Manual Log Softmax
Computation" (the BROKEN loss_fn, verbatim below). The seed lists five reasons; the one that
matters is its own "No label indexing: Doesn't select the log probability of the correct token".
Bug: the loss averages the log-probabilities of all 256 tokens at every position; the labels
never enter it.
Symptom: the loss falls a little, to ln(256) = 5.545, and stays there; the model never gets
better at predicting text.
Root cause: -mean over the vocabulary of log p is the cross-entropy against the UNIFORM
distribution, minimised by predicting every token equally. Training succeeds at that: the
model learns to output uniform predictions.
Fix: `nn.losses.cross_entropy(logits, targets)` on the shifted labels (`_lm.next_token_loss`).

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), batch 8 x seq 32, AdamW lr 3e-3:
  - the real next-token validation loss goes 5.73 (init) -> 5.64 (step 1) -> 5.54 (step 11)
    and stays at 5.545 = ln 256 (uniform) to step 150; the training loss goes 5.72 -> 5.544.
    With cross-entropy: validation 5.73 -> 5.38 (step 1) -> 3.51 (step 11) -> 2.88 (141).
  - the seed's other claims do not hold on this CPU build: the max-subtracted formula is the
    stable one (max |diff| to `nn.log_softmax` exactly 0.0 for logits scaled by 1, 100 and
    1e4, and no non-finite loss in 200 steps), and a step costs the same as with
    cross_entropy (interleaved A/B, fastest 10% of steps 9.8 vs 10.0 ms).
Under mlxprobe (3 runs, identical numbers): broken -> not_learning:val_loss, first-window
median 5.552 -> last 5.545 (-0.12%; needs -5%); fixed -> pass, val_loss 3.508 -> 2.887
(-17.7%), check 5.73 -> 2.86 (-50%).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mlx.core as mx

from ._lm import TinyLM, next_token_loss
from ._trainer import LossFn, Trained, check_val_drop, train_fresh

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "manual-log-softmax",
    "title": "loss is -mean(log_softmax) over the vocabulary: no labels, learns a uniform output",
    "source": ["004_5bdaaef4cda6c98e.txt"],
    "variants": {"broken": "not_learning:val_loss", "fixed": "pass"},
    "budget_s": 60,
    "learning_metric": "val_loss",
}

STEPS = 150
EVAL_EVERY = 10  # val_loss at steps 1, 11, ..., 141: 15 points


def seed_loss(model: TinyLM, tokens: mx.array) -> mx.array:
    """seed 004's BROKEN loss_fn: a log-softmax over the vocabulary, averaged; no labels."""
    shift_logits = model(tokens[:, :-1])
    max_logits = mx.max(shift_logits, axis=-1, keepdims=True)
    numerator = shift_logits - max_logits
    denominator = mx.log(mx.sum(mx.exp(numerator), axis=-1, keepdims=True))
    log_probs = numerator - denominator
    return -mx.mean(log_probs)  # BUG: every token's log-probability, not the label's


def _run(probe: Probe, loss_fn: LossFn) -> Trained:
    trained = train_fresh(probe, loss_fn, STEPS, eval_every=EVAL_EVERY)
    probe.note(val_loss_before=trained.val_before, val_loss_after=trained.val_after,
               uniform_loss=math.log(256))
    return trained


def broken(probe: Probe) -> None:
    _run(probe, seed_loss)


def fixed(probe: Probe) -> None:
    trained = _run(probe, next_token_loss)
    check_val_drop(probe, trained.val_before, trained.val_after,
                   hint="nn.losses.cross_entropy(logits, labels)")
