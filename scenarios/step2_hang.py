"""step2-hang: the update is applied but parameters and optimizer state are never evaluated.

Source: ../shared/seeds/000_4149ee8ead452f99.txt and 001_5a8363591f943652.txt (an mlx-rs
trainer that "hung at step 2"; fixed by `mx.eval(model.parameters(), optimizer.state)` after
`optimizer.update`). The seed's other claims (graph "corruption", a deadlock, that
`clear_cache()` helps) are not reproduced here: the Python loop does not deadlock.

Bug: `optimizer.update(model, grads)` with no `mx.eval` of the parameters and optimizer state;
the loop only looks at the loss when it logs, every LOG_EVERY steps.
Symptom: steps "fly" (each returns in ~0.2 ms, nothing is computed), memory climbs every step,
then the loop freezes at the first log line.
Root cause: MLX is lazy. Each step adds a forward, a backward and an AdamW update on top of
the previous step's unevaluated parameters, so the graph grows without bound; the first real
evaluation (`loss.item()` in the log line) has to run the whole backlog at once.
Fix: one evaluation per step of everything the step produced, as mlx-lm's trainer does:
`mx.eval(loss, model.parameters(), optimizer.state)` right after `optimizer.update(...)`.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21): the broken loop's un-evaluated steps
took ~0.2 ms each while RSS grew linearly; the log line at step LOG_EVERY then computed the
backlog at about the speed of ordinary evaluated steps (a 1000-step backlog of a slightly
larger model took 16 s, 3000 steps 50 s: linear, not a deadlock). Given the time it would
finish; mlxprobe calls it `hang` (cpu_busy) because the step took > 1000x the previous steps
and exceeded the step deadline while computing. The fixed loop's numbers are in its
verdict's evidence and in the closing note of the issue that added this scenario.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

from ._lm import evaluate, make_model, next_token_loss
from ._text import batches, split

SCENARIO = {
    "id": "step2-hang",
    "title": "optimizer state never evaluated: lazy graph grows until the first eval stalls",
    "source": ["000_4149ee8ead452f99.txt", "001_5a8363591f943652.txt"],
    "variants": {"broken": "hang:cpu_busy", "fixed": "pass"},
    "budget_s": 120,
}

BATCH, SEQ, LR = 8, 32, 3e-3
FIXED_STEPS = 300
LOG_EVERY = 2000  # the broken loop's first log line: a backlog far past any step deadline
MIN_VAL_DROP = 0.25  # the fixed loop's validation loss must fall by at least 25%


def _setup(seed: int = 0):  # noqa: ANN202 - (model, optimizer, loss-and-grad, data)
    model = make_model(seed)
    optimizer = optim.AdamW(learning_rate=LR)
    train, valid = split()
    return model, optimizer, nn.value_and_grad(model, next_token_loss), train, valid


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    model, optimizer, loss_and_grad, train, _ = _setup()
    probe.reset_clock()
    for step, tokens in enumerate(batches(train, BATCH, SEQ, seed=1), start=1):
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)  # BUG: nothing evaluates parameters or optimizer state
        if step % LOG_EVERY == 0:
            print(f"step {step} loss {loss.item():.3f}", flush=True)  # the backlog runs here
            probe.step(loss=loss.item())
            return
        probe.step(loss=loss)  # an un-evaluated array: the probe records its type only


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    model, optimizer, loss_and_grad, train, valid = _setup()
    before = evaluate(model, valid)
    probe.reset_clock()
    for _, tokens in zip(range(FIXED_STEPS), batches(train, BATCH, SEQ, seed=1)):
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)  # the fix: one eval per step
        probe.step(loss=loss.item())
    after = evaluate(model, valid)
    probe.check("validation loss fell by a clear margin", (before - after) / before >= MIN_VAL_DROP,
                val_loss_before=before, val_loss_after=after, min_drop=MIN_VAL_DROP)
