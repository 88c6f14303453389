"""lazy-metrics: losses kept as un-evaluated arrays for a running average pin every step's logits.

Source: ../shared/seeds/004_5bdaaef4cda6c98e.txt, "Issue 2: Missing mx.eval() Calls: Loss
values were not being evaluated before conversion to float, causing lazy evaluation buildup and
memory issues" (its fix: `mx.eval(loss_val)` then `float(loss_val)`).
Bug: the loop evaluates the update (`mx.eval(model.parameters(), optimizer.state)`) but keeps
each step's loss as an un-evaluated array for the epoch's running average
(`running.append(loss)`; `total = total + loss` behaves the same), evaluated once at the end.
Symptom: training runs and learns at normal speed, but memory climbs every step until the
epoch ends (or the machine runs out).
Root cause: evaluating the parameters computes what the gradients need, the logits included,
but not the loss value itself (the gradients do not need it). An un-evaluated array keeps its
inputs alive, so each kept loss pins its step's evaluated logits (measured: their exact size).
Fix: evaluate the loss with the step, `mx.eval(loss, model.parameters(), optimizer.state)`,
and keep Python floats (`loss.item()`).

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), batch 8 x seq 32, AdamW lr 3e-3:
  - in-process `mx.get_active_memory()`: each kept loss holds 264,196 bytes, i.e. the step's
    logits (8 x 32 x 256 float32 = 262,144) plus 2,052 bytes of small intermediates; at batch
    16, or at seq 64, exactly twice that. The old parameters (106,880 bytes) are not kept.
    RSS: flat at 54 MB for the fixed loop; +12.9 MB per 50 steps for the broken one, alike
    for `running.append(loss)`, for `total = total + loss`, and when only the parameters
    (not the optimizer state) are evaluated.
  - the seed's premise that `float(loss)` needs an `mx.eval` first does not hold: `float()`
    and `.item()` evaluate; `running.append(float(loss))` kept active memory flat (0 bytes a
    step). What leaks is keeping the array itself.
  - both loops learn identically (epoch mean loss 2.8814 in both; only memory differs).
Under mlxprobe (3 runs, identical numbers): broken -> leak:rss, RSS +0.258 MB/step, growth
41.0 MB over the 160 fitted steps from a 63 MB baseline (thresholds: 16 MB and 10%), late
slope = whole slope, mx active memory 0.66 -> 50.8 MB; fixed -> pass, RSS flat at 54 MB
(growth 0.0-0.01 MB), loss 3.45 -> 2.62 (-24%), validation loss 5.73 -> 2.83 (-51%).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.optimizers as optim

from ._lm import evaluate
from ._loops import lm_setup
from ._text import batches
from ._trainer import BATCH, LR, SEQ, check_val_drop

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "lazy-metrics",
    "title": "un-evaluated losses kept for a running average pin each step's logits",
    "source": ["004_5bdaaef4cda6c98e.txt"],
    "variants": {"broken": "leak", "fixed": "pass"},
    "budget_s": 60,
}

# On the CPU the broken loop keeps 0.25 MB a step: ~41 MB over the 160 fitted steps of 200.
# On a GPU (CUDA, measured on an H100 2026-11-22) an evaluated step's logits are released and
# each kept loss holds only ~1 KB of MLX active memory (0.156 MB over 160 fitted steps, under
# the 1 MB floor of that view; RSS holds the 900 MB CUDA context and shows nothing), so the
# loop runs longer there to make the same leak visible: ~2.4 MB over 2,400 fitted steps.
STEPS = 200 if mx.default_device() == mx.cpu else 3000


def broken(probe: Probe) -> None:
    lm = lm_setup()
    optimizer = optim.AdamW(learning_rate=LR)
    running: list[mx.array] = []
    probe.reset_clock()
    for _, tokens in zip(range(STEPS), batches(lm.train, BATCH, SEQ, seed=1)):
        loss, grads = lm.loss_and_grad(lm.model, tokens)
        optimizer.update(lm.model, grads)
        mx.eval(lm.model.parameters(), optimizer.state)
        running.append(loss)  # BUG: an un-evaluated array, kept until the epoch ends
        probe.step(loss=loss)  # un-evaluated: the probe records its type only
    probe.note(epoch_loss=mx.mean(mx.stack(running)).item())


def fixed(probe: Probe) -> None:
    lm = lm_setup()
    optimizer = optim.AdamW(learning_rate=LR)
    before = evaluate(lm.model, lm.valid)
    running: list[float] = []
    probe.reset_clock()
    for _, tokens in zip(range(STEPS), batches(lm.train, BATCH, SEQ, seed=1)):
        loss, grads = lm.loss_and_grad(lm.model, tokens)
        optimizer.update(lm.model, grads)
        mx.eval(loss, lm.model.parameters(), optimizer.state)  # the fix: the loss too
        running.append(loss.item())  # a Python float
        probe.step(loss=running[-1])
    probe.note(epoch_loss=sum(running) / len(running))
    check_val_drop(probe, before, evaluate(lm.model, lm.valid),
                   hint="mx.eval(loss, model.parameters(), optimizer.state); keep loss.item()")
