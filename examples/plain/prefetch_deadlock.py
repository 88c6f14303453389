"""A prefetching data loader whose worker thread dies: an idle deadlock (`mlxprobe attach`).

broken: batches come from a background thread through a bounded queue (a common way to
overlap data preparation with MLX's compute). At batch DIES_AT the worker meets a ragged
batch, its reshape raises, and the exception ends only that thread (Python prints it on
stderr); the training loop then waits in `queue.get()` forever: alive, no CPU, no output.
fixed: the worker hands every batch and its own failure to the loop through the queue, a
ragged batch is skipped, and the loop trains STEPS steps (long enough to attach to: ~4-15 s;
`PREFETCH_STEPS=N` in the environment trains N instead, for a machine where that is short).

The loop is a function (as in most training code, mlx-lm's too), so its counter `step` is a
local that `py-spy dump --locals` can read from outside. No scenario of its own: the failure
is a hang (`hang:cpu_idle`) found by watching the process; no mlxprobe import.
"""

import os
import queue
import threading

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from _common import Run
from mlxprobe_scenarios._lm import make_model, next_token_loss
from mlxprobe_scenarios._text import split

BATCH, SEQ, LR = 8, 32, 3e-3
STEPS, DIES_AT, EVERY = int(os.environ.get("PREFETCH_STEPS", "500")), 40, 10

run = Run(["broken", "fixed"], fmt="step", every=EVERY, doc=__doc__)


def windows(data: np.ndarray, seed: int):
    """Batches of (BATCH, SEQ + 1) token windows; every DIES_AT-th one is ragged (a short
    shard's tail), as real data sometimes is."""
    rng = np.random.default_rng(seed)
    n = 0
    while True:
        n += 1
        rows = BATCH - 1 if n % DIES_AT == 0 else BATCH
        starts = rng.integers(0, len(data) - SEQ - 1, size=rows)
        yield data[starts[:, None] + np.arange(SEQ + 1)]


def worker(source, out: queue.Queue, forward_errors: bool) -> None:
    for window in source:
        try:
            out.put(mx.array(window.reshape(BATCH, SEQ + 1).astype(np.int32)))
        except ValueError as exc:
            if not forward_errors:
                raise  # BUG: ends this thread only; the loop below waits forever
            out.put(exc)  # the fix: the loop hears of it (here: skips the ragged batch)


def train(model: nn.Module, batches: queue.Queue) -> None:
    optimizer = optim.AdamW(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, next_token_loss)
    step = 0
    while step < STEPS:
        tokens = batches.get()  # broken: blocks here once the worker is dead
        if isinstance(tokens, Exception):
            continue
        step += 1
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        run.step(step, loss.item())


train_data, _ = split()
prefetched: queue.Queue = queue.Queue(maxsize=4)
threading.Thread(target=worker, args=(windows(train_data, 1), prefetched,
                                      run.variant == "fixed"), daemon=True).start()
train(make_model(0), prefetched)
print("training done", flush=True)
