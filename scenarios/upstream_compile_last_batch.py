"""upstream-compile-last-batch: a compiled Adam step must survive the smaller last batch.

Source: https://github.com/ml-explore/mlx/issues/1160 ("Compiled mx.eval(model.state) raises
'Attempting to eval an array without a primitive' with mlx.optimizers.Adam", mlx 0.10-0.14).
Symptom: the mlx-examples MNIST loop, its step compiled with
`partial(mx.compile, inputs=state, outputs=state)` and `state = [model.state,
optimizer.state]`, trains for a whole epoch with `optim.Adam` and then raises RuntimeError
"[eval] Attempting to eval an array without a primitive" at `mx.eval(model.state)` on the
last minibatch of the epoch (batch 234 of 235 with batch size 256: the one smaller batch).
SGD worked; Adam, AdamW, RMSprop and Adagrad (the optimizers with per-parameter state) failed;
`mx.disable_compile()` or a dataset that is a whole number of batches made it go away.
Diagnosis (the stored issue has no maintainer comment; this is our reading of the facts
above): the smaller batch is a new input shape, so the compiled step is traced again, and the
optimizer state captured as an implicit input and output came back from that trace as
placeholder arrays without a primitive. Fix: the issue is closed; the fixing commit could not
be identified in the stored copy of the mlx repository.

The guard trains the MNIST-shaped loop on a tiny synthetic problem (64 features, 10 classes
from a fixed random teacher, 1000 samples: 15 batches of 64 and a last batch of 40), the step
compiled exactly as in the report, Adam, 4 epochs, reshuffled every epoch, `mx.eval(state)`
after every step. If the bug is back the last batch of the first epoch raises: `crash`.
It checks that every epoch ran its smaller last batch and that accuracy rose.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-22): 64 steps, 4 smaller last batches run, loss
2.18 -> 0.23 (medians of the first and last 10% of steps), accuracy 0.12 -> 0.97, 0.4-0.8 s (a
cold kernel cache adds a one-off g++ build of up to ~20 s, not counted). Passes on every release
tried: 0.27.1, 0.28.0, 0.29.3, 0.30.0, 0.30.1, 0.31.1, 0.31.2, 0.32.0, 0.32.1, 0.32.2, 0.32.3
and 0.32.4. The bug predates every release that installs here (0.27+): this guard was never seen
failing.
"""

from __future__ import annotations

from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SCENARIO = {
    "id": "upstream-compile-last-batch",
    "title": "mlx#1160: compiled Adam step crashed on the epoch's smaller last batch",
    "source": ["https://github.com/ml-explore/mlx/issues/1160"],
    "tags": ["upstream"],
    "variants": {"guard": "pass"},
    "budget_s": 60,
}

FEATURES, CLASSES, SAMPLES, BATCH, EPOCHS, LR = 64, 10, 1000, 64, 4, 1e-2
MIN_ACCURACY = 0.6


class MLP(nn.Module):
    """The mlx-examples MNIST model, smaller."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = [nn.Linear(FEATURES, 32), nn.Linear(32, CLASSES)]

    def __call__(self, x: mx.array) -> mx.array:
        return self.layers[1](nn.relu(self.layers[0](x)))


def dataset() -> tuple[mx.array, mx.array]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, FEATURES)).astype(np.float32)
    teacher = rng.standard_normal((FEATURES, CLASSES)).astype(np.float32)
    return mx.array(x), mx.array((x @ teacher).argmax(axis=1).astype(np.int32))


def loss_fn(model: MLP, x: mx.array, y: mx.array) -> mx.array:
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model: MLP, x: mx.array, y: mx.array) -> float:
    return mx.mean(model(x).argmax(axis=1) == y).item()


def guard(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    mx.random.seed(0)
    x, y = dataset()
    model = MLP()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=LR)  # stateful: the report's trigger (SGD worked)
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb: mx.array, yb: mx.array) -> mx.array:
        loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
        optimizer.update(model, grads)
        return loss

    before = accuracy(model, x, y)
    rng = np.random.default_rng(1)
    small_batches = 0
    probe.reset_clock()
    for _ in range(EPOCHS):
        order = mx.array(rng.permutation(SAMPLES))
        for start in range(0, SAMPLES, BATCH):
            ids = order[start:start + BATCH]
            loss = step(x[ids], y[ids])
            mx.eval(state)  # where the report raised, on the last (smaller) batch
            small_batches += int(ids.size < BATCH)
            probe.step(loss=loss.item(), batch=int(ids.size))
    after = accuracy(model, x, y)
    probe.check("every epoch ran its smaller last batch", small_batches == EPOCHS,
                small_batches=small_batches, epochs=EPOCHS, last_batch=SAMPLES % BATCH)
    probe.check("accuracy rose", after >= MIN_ACCURACY, accuracy_before=before,
                accuracy_after=after, min_accuracy=MIN_ACCURACY)
