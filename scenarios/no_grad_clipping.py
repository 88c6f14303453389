"""no-grad-clipping: a high-learning-rate SGD loop without gradient clipping blows up.

Source: ../shared/seeds/000_4149ee8ead452f99.txt ("Restored gradient clipping": the fixed
trainer clips when `max_grad_norm > 0` before `optimizer.update`) and
002_da2a91385045b159.txt (next steps: "Implement gradient clipping"). The seeds do not say what
an unclipped loop does; this scenario measures it.

Bug: `optimizer.update(model, grads)` with the raw gradients, at a learning rate that is only
safe when the global gradient norm is bounded.
Symptom: the loss drops for a few steps, then spikes (to ~1e8 here) and turns NaN for good.
Root cause: one large gradient times a large learning rate throws the parameters far away;
the next gradients are larger still and momentum keeps pushing, until activations overflow
float32 and the loss and parameters become NaN.
Fix: `grads, norm = optim.clip_grad_norm(grads, max_norm)` before `optimizer.update`: each
step is at most lr x max_norm long (plus momentum), whatever the batch.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), default TinyLM, batch 8 x seq 32, SGD
lr 2.0 momentum 0.9 (`_loops.HIGH_LR`), 100 steps, the same batches in both loops; the first
gradient norm is 1.075 in both. Unclipped: loss 5.77 at step 1, 5.06 at step 3, 1.25e8 at
step 10, exactly ln 256 with a gradient norm of exactly 0 at steps 11-14 (the dead state
described in `_loops`), NaN from step 16 to the end (85 of 100 steps). Clipped to a norm of
0.25: the clip fires at all 100 steps (the true norm stays between 0.259 and 1.74), loss
4.13 -> 2.97 (medians of the first and last 10% of steps), validation 5.73 -> 3.12. The edges of
the setting are in `_loops.py`: unclipped, lr 1.0 also blows up (but ends dead at ln 256, not
NaN), lr 1.5 and 3.0 end NaN; clipping to 1.0 is not enough at lr 2.0.
"""

from __future__ import annotations

import itertools

import mlx.core as mx
import mlx.optimizers as optim

from ._lm import evaluate
from ._loops import MAX_NORM, check_drop, global_norm, high_lr_sgd, lm_setup
from ._text import batches

SCENARIO = {
    "id": "no-grad-clipping",
    "title": "SGD at a high learning rate without clip_grad_norm: loss spike, then NaN",
    "source": ["000_4149ee8ead452f99.txt", "002_da2a91385045b159.txt"],
    "variants": {"broken": "diverged", "fixed": "pass"},
    "budget_s": 60,
}

BATCH, SEQ, STEPS = 8, 32, 100
MIN_VAL_DROP = 0.25


def _train(probe, clip: bool) -> tuple[float, float]:  # noqa: ANN001 - mlxprobe Probe
    """Run the loop; (validation loss before, after)."""
    setup = lm_setup()
    model, optimizer = setup.model, high_lr_sgd()
    before = evaluate(model, setup.valid)
    probe.reset_clock()
    for tokens in itertools.islice(batches(setup.train, BATCH, SEQ, seed=1), STEPS):
        loss, grads = setup.loss_and_grad(model, tokens)
        if clip:
            grads, norm = optim.clip_grad_norm(grads, MAX_NORM)
        else:
            norm = global_norm(grads)  # logged only
        optimizer.update(model, grads)
        mx.eval(loss, norm, model.parameters(), optimizer.state)
        value = norm.item()
        probe.step(loss=loss.item(), grad_norm=value, clipped=clip and value > MAX_NORM)
    return before, evaluate(model, setup.valid)


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, clip=False)  # BUG: raw gradients at a learning rate that needs clipping


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    before, after = _train(probe, clip=True)  # the fix: optim.clip_grad_norm before update
    check_drop(probe, "val_loss", before, after, MIN_VAL_DROP)
