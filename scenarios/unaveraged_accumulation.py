"""unaveraged-accumulation: micro-batch gradients are summed and never divided by their count.

Source: ../shared/seeds/004_5bdaaef4cda6c98e.txt, Issue 3 "Gradient Accumulation Logic
Error": "Gradients were being accumulated but not properly averaged before applying to
optimizer, causing exploding gradients", fixed by `accumulated_grads[key] / N` (Fix 3).

Bug: the loop adds up the gradients of ACCUM micro-batches and hands the SUM to the optimizer.
Symptom: the loss spikes within the first steps and turns NaN, at a learning rate where the
same loop with averaged gradients trains; the logged gradient norm is ACCUM times too big.
Root cause: the sum of N micro-batch gradients is exactly N times their mean, so the applied
step is N times too long: with SGD, an N-fold learning rate.
Fix: divide the accumulated gradients by the number of micro-batches before the update.

The optimizer matters, so this is measured with both. Adam-family optimizers divide the first
moment by the root of the second, which makes them invariant to a constant gradient scale
(up to eps): summed gradients barely change AdamW. SGD applies the gradient as it is, so the
N-fold scale is an N-fold learning rate; the scenario uses SGD with momentum.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), default TinyLM, ACCUM = 8 micro-batches
of 1 x 32 tokens, 40 updates, the same micro-batches in every run:
- SGD lr 0.3, momentum 0.9 (the scenario): the first update's gradient norm is 8.601 summed
  against 1.075 averaged (8.000x: the sum of 8 gradients is exactly 8 times their mean).
  Summed: loss 5.77 at update 1, 1.1e8 at update 10, then exactly ln 256 = 5.545 with a
  gradient norm of exactly 0 at updates 11-13 (parameters up to 1e8; the activations
  overflow float32 and RMSNorm outputs 0, so the logits are all 0), and momentum carries the
  parameters on to NaN: the loss is NaN from update 15 to the end (26 of 40 updates).
  Averaged: loss 5.36 -> 3.18 (medians of the first and last 10% of updates), validation
  5.73 -> 3.27.
- The same SGD loop at other learning rates: averaged trains at lr 0.1, 0.2, 0.3 and 0.5
  (validation 3.25-3.35) and blows up at 0.8; summed blows up at every one of them. Summed at
  lr 0.1 gives exactly the numbers of averaged at lr 0.8 (SGD with a sum is SGD with an 8-fold
  learning rate). How the blow-up ends is chaotic: NaN at lr 0.3 and 0.5, but at lr 0.2 the
  model ends dead at ln 256 with a zero gradient, and mlxprobe calls that run not_learning
  (loss 5.48 -> 5.545), not diverged.
- AdamW lr 3e-3, same loop: validation 5.73 -> 3.066 summed, 3.072 averaged; loss (medians of
  the first and last 5 updates) 4.95 -> 3.03 summed, 4.95 -> 3.02 averaged; through mlxprobe
  both pass. With AdamW the summed loop learns as well as the averaged one: the seed's
  "exploding gradients" is not what unaveraged accumulation does with an Adam-family
  optimizer (the seed does not name its optimizer).
"""

from __future__ import annotations

import itertools

import mlx.core as mx
import mlx.optimizers as optim

from ._lm import evaluate
from ._loops import GradAccumulator, check_drop, global_norm, lm_setup, scale_grads
from ._text import batches

SCENARIO = {
    "id": "unaveraged-accumulation",
    "title": "accumulated micro-batch gradients summed, never averaged: an N-fold SGD step",
    "source": ["004_5bdaaef4cda6c98e.txt"],
    "variants": {"broken": "diverged", "fixed": "pass"},
    "budget_s": 60,
}

ACCUM, MICRO, SEQ = 8, 1, 32
LR, MOMENTUM = 0.3, 0.9
UPDATES = 40
MIN_VAL_DROP = 0.25


def _train(probe, average: bool) -> tuple[float, float]:  # noqa: ANN001 - mlxprobe Probe
    """Run the loop; (validation loss before, after)."""
    setup = lm_setup()
    model, optimizer = setup.model, optim.SGD(learning_rate=LR, momentum=MOMENTUM)
    before = evaluate(model, setup.valid)
    micro_batches = batches(setup.train, MICRO, SEQ, seed=1)
    accumulator = GradAccumulator()
    probe.reset_clock()
    for tokens in itertools.islice(micro_batches, UPDATES * ACCUM):
        accumulator.add(*setup.loss_and_grad(model, tokens), samples=MICRO)
        if accumulator.count < ACCUM:
            continue
        step = accumulator.pop()
        grads = scale_grads(step.grads, 1 / step.micro_batches) if average else step.grads
        norm = global_norm(grads)
        optimizer.update(model, grads)
        mx.eval(norm, model.parameters(), optimizer.state)
        probe.step(loss=step.loss, grad_norm=norm.item())
    return before, evaluate(model, setup.valid)


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, average=False)  # BUG: optimizer.update(model, sum of ACCUM gradients)


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    before, after = _train(probe, average=True)  # the fix: divide by the micro-batch count
    check_drop(probe, "val_loss", before, after, MIN_VAL_DROP)
