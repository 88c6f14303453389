"""mlx-lm's trainer, read through its own callback interface: train and validation losses.

Job: when `mlx_lm.tuner.trainer` is imported, wrap its `train` so that the
`training_callback` it is given (or none) is chained with ours: `on_train_loss_report` and
`on_val_loss_report` receive dicts of plain floats (mlx-lm has evaluated them already), which
become `progress` records (source "callback") with the iteration, the train loss, the
learning rate and the validation loss. The user's callback is called first, unchanged.
mlx-lm's printed output is no stable format (its table changed between releases): the
callback is. Nothing is evaluated, nothing the trainer computes is changed.

May import: the standard library, `recorder`. Must not import: mlx, the watching side.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..protocol import CALLBACK, PROGRESS
from .recorder import Probe

TRAIN_KEYS = {"learning_rate": "learning_rate", "iterations_per_second": "it_per_s",
              "tokens_per_second": "tokens_per_s", "peak_memory": "peak_memory_gb"}


class Chained:
    """A TrainingCallback that forwards to the user's and records the losses."""

    def __init__(self, probe: Probe, user: Any) -> None:
        self._probe = probe
        self._user = user

    def __getattr__(self, name: str) -> Any:  # other hooks mlx-lm may add: the user's
        return getattr(self._user, name)

    def on_train_loss_report(self, info: dict) -> None:
        if self._user is not None:
            self._user.on_train_loss_report(info)
        metrics = {ours: info[theirs] for theirs, ours in TRAIN_KEYS.items() if theirs in info}
        self._emit(info, loss=info.get("train_loss"), metrics=metrics)

    def on_val_loss_report(self, info: dict) -> None:
        if self._user is not None:
            self._user.on_val_loss_report(info)
        self._emit(info, metrics={"val_loss": info.get("val_loss")})

    def _emit(self, info: dict, **fields: Any) -> None:
        step = info.get("iteration")
        if isinstance(step, int):
            self._probe.emit(PROGRESS, step=step, source=CALLBACK, **fields)


def patch_trainer(probe: Probe, module: ModuleType) -> None:
    original = getattr(module, "train", None)
    if not callable(original):
        return
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):
        return
    if "training_callback" not in signature.parameters:
        return
    module.train = _chained_train(probe, original, signature)


def _chained_train(probe: Probe, original: Callable, signature: inspect.Signature) -> Callable:
    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind_partial(*args, **kwargs)
        user = bound.arguments.get("training_callback")
        bound.arguments["training_callback"] = Chained(probe, user)
        return original(*bound.args, **bound.kwargs)
    return train
