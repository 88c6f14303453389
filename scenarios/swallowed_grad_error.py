"""swallowed-grad-error: a "graceful" fallback hides a gradient error; no step ever updates.

Source: ../shared/seeds/002_da2a91385045b159.txt, "Fallback Handling": `match loss_and_grad
{ Ok(..) => .., Err(_) => { // Fallback: compute loss without gradients; let loss =
self.compute_loss(...)?; return Ok(loss.item()); } }`, said to "ensure graceful degradation".

Bug: the training step catches any exception from the gradient computation, computes the loss
forward-only and returns it as the step's loss.
Symptom: training "runs": every step logs a plausible loss, nothing is raised, but the loss
never falls (the model never changes) and the run looks like a bad learning rate.
Root cause here: a real gradient error a user hits when porting PyTorch. The loss trains on the
hardest half of the tokens (online hard-example mining): `idx = mx.argsort(per_token)[-k:]`,
`mx.take(per_token, idx).mean()`. The forward pass is fine, but the indices depend on the
model's outputs, and MLX's backward pass raises ValueError "[gather] Cannot calculate VJP with
respect to indices. Use stop_gradient on indices to stop gradients from being computed."
(PyTorch's integer index tensors take no part in autograd, which is why ported code expects
this to work; PyTorch was not run here.)
Fix: remove the fallback so such an error surfaces, and fix its cause:
`mx.stop_gradient(mx.argsort(per_token)[-k:])`, as the message says. Removing the fallback
alone is not a fix, it turns the silent no-op into a crash: the `surfaced` variant runs that
loop and is expected to crash with the ValueError, so the message is in the report.

Version dependence (found by `mlxprobe gate` 0.31.2 -> 0.32.4, bisected by hand): mlx
0.29.4, 0.30.6, 0.31.2 and 0.32.0 compute this loss's gradient without complaint (the index
path simply gets no gradient), so there the fallback never fires and all three variants train
identically; 0.32.1 to 0.32.4 raise. The scenario says so in `expected_before_mlx`, and guards
against the error going away again in a later release.

The loop measures how far the parameters moved each step (`param_delta`, L2 norm of the
change): the broken loop reports `fallback=True` and its real, measured 0.0.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), default TinyLM, batch 8 x seq 32, AdamW
lr 3e-3, 100 steps, hardest 50% of the tokens. Broken: all 100 steps took the fallback,
param_delta exactly 0.0 at every step, the logged (hard-token) loss 6.18 -> 6.16 (medians of
the first and last 10% of steps; it only wanders with the batches). Surfaced: ValueError in
the first step, before any heartbeat. Fixed: param_delta 1.33 at step 1 and 0.21 at step
100, hard-token loss 4.41 -> 3.61, validation loss on all tokens (`_lm.evaluate`) 5.73 -> 3.37.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

from ._lm import TinyLM, evaluate
from ._loops import LMSetup, check_drop, lm_setup, param_delta, snapshot
from ._text import batches

SCENARIO = {
    "id": "swallowed-grad-error",
    "title": "gradient error swallowed by a forward-only fallback: no step ever updates",
    "source": ["002_da2a91385045b159.txt"],
    "variants": {"broken": "no_update", "surfaced": "crash:ValueError", "fixed": "pass"},
    # before mlx 0.32.1 the gather VJP raised nothing: the gradient error (and so the bug)
    # does not exist there, and every variant trains the same (measured on 0.29.4, 0.30.6,
    # 0.31.2: loss 4.41 -> 3.61 in all three variants; 0.32.0 computes the gradient too,
    # 0.32.1 to 0.32.4 raise)
    "expected_before_mlx": {"0.32.1": {"broken": "pass", "surfaced": "pass"}},
    "budget_s": 60,
}

BATCH, SEQ, STEPS, LR = 8, 32, 100, 3e-3
KEEP = 0.5  # train on the hardest half of the tokens
MIN_VAL_DROP = 0.25
Step = Callable[[LMSetup, optim.Optimizer, mx.array], tuple[float, bool]]


def hard_tokens_loss(model: TinyLM, tokens: mx.array, stop_indices: bool = False) -> mx.array:
    """Mean loss of the hardest KEEP of the tokens, as ported from PyTorch."""
    logits = model(tokens[:, :-1])
    per_token = nn.losses.cross_entropy(logits, tokens[:, 1:]).reshape(-1)
    hardest = mx.argsort(per_token)[-int(per_token.size * KEEP):]  # depends on the model
    if stop_indices:
        hardest = mx.stop_gradient(hardest)  # the fix: no gradient through the selection
    return mx.take(per_token, hardest).mean()


def _apply(setup: LMSetup, optimizer: optim.Optimizer, loss: mx.array, grads: dict) -> float:
    optimizer.update(setup.model, grads)
    mx.eval(loss, setup.model.parameters(), optimizer.state)
    return loss.item()


def step_with_fallback(setup: LMSetup, optimizer: optim.Optimizer,
                       tokens: mx.array) -> tuple[float, bool]:
    """The seed's step: (loss, fell back). Any gradient error -> forward-only loss, no update."""
    try:
        loss, grads = setup.loss_and_grad(setup.model, tokens)
    except Exception:  # the seed's `Err(_) =>`: every error, silently
        return hard_tokens_loss(setup.model, tokens).item(), True
    return _apply(setup, optimizer, loss, grads), False


def step_plain(setup: LMSetup, optimizer: optim.Optimizer, tokens: mx.array) -> tuple[float, bool]:
    """A step with nothing caught: a gradient error propagates to the caller."""
    return _apply(setup, optimizer, *setup.loss_and_grad(setup.model, tokens)), False


def _train(probe, setup: LMSetup, step: Step) -> tuple[float, float]:  # noqa: ANN001 - a Probe
    """Run the loop; (validation loss on all tokens before, after)."""
    optimizer = optim.AdamW(learning_rate=LR)
    before = evaluate(setup.model, setup.valid)
    probe.reset_clock()
    for tokens in itertools.islice(batches(setup.train, BATCH, SEQ, seed=1), STEPS):
        previous = snapshot(setup.model)
        loss, fell_back = step(setup, optimizer, tokens)
        probe.step(loss=loss, fallback=fell_back, param_delta=param_delta(previous, setup.model))
    return before, evaluate(setup.model, setup.valid)


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, lm_setup(loss=hard_tokens_loss), step_with_fallback)


def surfaced(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, lm_setup(loss=hard_tokens_loss), step_plain)  # raises at step 1


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    setup = lm_setup(loss=partial(hard_tokens_loss, stop_indices=True))  # the cause, fixed
    before, after = _train(probe, setup, step_plain)  # and no fallback: errors surface
    check_drop(probe, "val_loss", before, after, MIN_VAL_DROP)
