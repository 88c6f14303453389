"""The correct TinyLM training loop, for scenarios whose bug is in the loss or the loading.

Job: scenarios whose bug is not in the loop itself run the loop mlx-lm's trainer runs, around
the loss function they are given: `nn.value_and_grad` + `optimizer.update` + one
`mx.eval(loss, model.parameters(), optimizer.state)` per step, the loss reported to the probe
as a Python float. `train` trains a given model on given batches; `train_fresh` trains a fresh
default TinyLM on the stdlib-docstring corpus and measures the real next-token validation loss
(`_lm.evaluate`) before and after; `check_val_drop` is the fixed variants' "true metric
improved" check on that loss (`_loops.check_drop` named "val_loss").

May import mlx, numpy and the standard library only (never `mlxprobe.runner` or other parent-side
modules): it runs inside scenario child processes (`mlxprobe.probe` only for type hints).

Defaults: batch 8 x seq 32, AdamW lr 3e-3, as measured in `_lm.py` (~9 ms a step). A correct
150-step run takes the validation loss from 5.73 to ~2.86 (-50%), hence `MIN_VAL_DROP` 0.25.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from ._lm import TinyLM, evaluate, make_model
from ._loops import check_drop
from ._text import batches, split

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

BATCH, SEQ, LR = 8, 32, 3e-3
MIN_VAL_DROP = 0.25

LossFn = Callable[[TinyLM, mx.array], mx.array]


@dataclass(frozen=True)
class Trained:
    """Validation loss before and after training, and the last training loss."""

    val_before: float
    val_after: float
    last_loss: float


def train(
    probe: Probe, model: TinyLM, loss_fn: LossFn, data: Iterator[mx.array], steps: int,
    valid: np.ndarray | None = None, eval_every: int = 0,
) -> float:
    """Train `steps` steps on `data`; the last training loss.

    With `valid` and `eval_every`, steps 1, 1 + eval_every, ... also report `val_loss`, the
    real next-token validation loss (for a scenario's `learning_metric`).
    """
    optimizer = optim.AdamW(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    probe.reset_clock()
    last = float("nan")
    for index, tokens in enumerate(itertools.islice(data, steps)):
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        last = loss.item()
        probe.step(loss=last, **_validation(model, valid, index, eval_every))
    return last


def _validation(
    model: TinyLM, valid: np.ndarray | None, index: int, eval_every: int
) -> dict[str, float]:
    if valid is None or not eval_every or index % eval_every:
        return {}
    return {"val_loss": evaluate(model, valid)}


def train_fresh(
    probe: Probe, loss_fn: LossFn, steps: int, batch: int = BATCH, eval_every: int = 0
) -> Trained:
    """A fresh default TinyLM (seed 0) trained with `loss_fn` on `_text.split()` windows."""
    model = make_model(0)
    train_data, valid = split()
    before = evaluate(model, valid)
    data = batches(train_data, batch, SEQ, seed=1)
    last = train(probe, model, loss_fn, data, steps, valid, eval_every)
    return Trained(before, evaluate(model, valid), last)


def check_val_drop(
    probe: Probe, before: float, after: float, hint: str, min_drop: float = MIN_VAL_DROP,
    **evidence: object,
) -> None:
    """Check "val_loss fell by a clear margin": from `before` to `after` by >= `min_drop`."""
    check_drop(probe, "val_loss", before, after, min_drop, hint, **evidence)
