"""Heartbeats from inside a Python program: outermost optimizer updates and evaluations.

Job: wrap `Optimizer.update`/`apply_gradients` (every class of `mlx.optimizers` that defines
its own) and `mlx.core.eval` so that each outermost call is counted, and turn them into step
records: one per outermost update; an evaluation that ends with no update since the previous
one is a step too (under `mx.compile`, as in mlx-lm, `Optimizer.update` runs only while the
step is traced: from then on only the evaluation shows a step). Nested calls (a
`MultiOptimizer`'s inner optimizers, an eval inside an eval) are not counted again.
A thread reports an evaluation that has been running for a while (`eval_open`: since when,
from which line), so a stall's evidence says the program was inside an evaluation.

The wrappers call the original with the same arguments and return its result: they never
evaluate an array, never change what the program computes. `.item()` and `print(array)`
evaluate without `mx.eval`: they are not seen here (output lines or the probe cover them).

May import: the standard library, `recorder`; mlx only through the modules handed to it.
Must not import: the watching side.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..protocol import EVAL, EVAL_OPEN, MLX, OPTIMIZER, UPDATE
from .params import ParamWatch
from .recorder import Probe, memory_counters

MAX_CREATED = 20  # optimizer creations recorded (a program may build one per trial)
OPEN_AFTER_S = 0.5  # an evaluation running this long is reported as open
CHECK_EVERY_S = 0.25


class Beats:
    """The counters of one process (updates, evaluations) and the records they give."""

    def __init__(self, probe: Probe, counting: bool = True) -> None:
        self.probe = probe
        self.counting = counting  # False: only open evaluations are reported (a scenario's
        # rank, whose steps come from its probe)
        self.steps = 0
        self.updates = 0  # outermost optimizer updates (a parameter look's own clock)
        self.evals = 0  # outermost evaluations (`mx.eval`) ended
        self.created = 0  # optimizers created
        self._local = threading.local()  # nesting depth per thread
        self._updated = False  # an update ended since the last evaluation ended
        self._last = time.perf_counter()
        self._open: tuple[float, str] | None = None  # (wall time, "file:line") of an eval
        self._reported: tuple[float, str] | None = None
        self.params = ParamWatch(probe) if counting else None

    def _depth(self, name: str) -> int:
        return getattr(self._local, name, 0)

    def _enter(self, name: str) -> bool:
        depth = self._depth(name)
        setattr(self._local, name, depth + 1)
        return depth == 0

    def _leave(self, name: str) -> None:
        setattr(self._local, name, self._depth(name) - 1)

    def beat(self, source: str) -> None:
        if not self.counting:
            return
        now = time.perf_counter()
        self.steps += 1
        if self.steps == 1:
            self.probe.emit(MLX, device=_device())  # the program has used the device now
        self.probe.step_later(step=self.steps, step_s=now - self._last, source=source,
                              evals=self.evals, memory=memory_counters())
        self._last = now

    def updating(self, original: Callable) -> Callable:
        @functools.wraps(original)
        def update(*args: Any, **kwargs: Any) -> Any:
            outermost = self._enter("update")
            if outermost and self.params is not None and len(args) > 1:
                self.params.saw_model(args[1], stepped=True)
            if outermost and self.updates == 0 and args:
                self.probe.emit(OPTIMIZER, name=type(args[0]).__name__,
                                settings=settings(args[0]))
            try:
                return original(*args, **kwargs)
            finally:
                self._leave("update")
                if outermost:
                    self._updated = True
                    self.updates += 1
                    self.beat(UPDATE)
        return update

    def evaluating(self, original: Callable) -> Callable:
        @functools.wraps(original)
        def evaluate(*args: Any, **kwargs: Any) -> Any:
            if not self._enter("eval"):
                try:
                    return original(*args, **kwargs)
                finally:
                    self._leave("eval")
            self._open = (time.time(), _caller())
            try:
                result = original(*args, **kwargs)
            finally:
                self._leave("eval")
                self._open = None
                self._closed()
            self._look(args, kwargs)
            return result
        return evaluate

    def _look(self, args: tuple, kwargs: dict) -> None:
        """A look at the parameters this eval evaluated (`params`); never breaks the eval."""
        if self.params is None:
            return
        try:
            self.params.after_eval(args, kwargs, self.steps, self.updates)
        except Exception:  # noqa: BLE001 - an observer's slip must not reach the program
            self.params = None

    def _closed(self) -> None:
        self.evals += 1
        if self._updated:
            self._updated = False
        else:
            self.beat(EVAL)

    def report_open(self) -> None:
        """Called from the watcher thread: an evaluation open for OPEN_AFTER_S is reported
        once."""
        current = self._open
        if current is None or current is self._reported:
            return
        if time.time() - current[0] >= OPEN_AFTER_S:
            self._reported = current
            self.probe.emit(EVAL_OPEN, since=current[0], where=current[1])


def _device() -> str:
    try:
        import mlx.core as mx

        return str(mx.default_device())
    except Exception:  # noqa: BLE001 - a device query must not break the program
        return "unknown"


def _caller() -> str:
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def patch_optimizers(beats: Beats, module: ModuleType) -> None:
    """Wrap `update` and `apply_gradients` of each optimizer class defining its own (not
    `nn.Module.update`, which `nn.value_and_grad` calls on every gradient evaluation)."""
    base = getattr(module, "Optimizer", None)
    if not isinstance(base, type):
        return
    for value in list(vars(module).values()):
        if not isinstance(value, type) or not issubclass(value, base):
            continue
        for name in ("update", "apply_gradients"):
            original = value.__dict__.get(name)
            if callable(original) and not getattr(original, "_mlxprobe", False):
                wrapped = beats.updating(original)
                wrapped._mlxprobe = True  # type: ignore[attr-defined]
                setattr(value, name, wrapped)


SETTINGS = ("bias_correction", "betas", "eps", "weight_decay", "momentum", "nesterov")


def settings(optimizer: Any) -> dict:
    """The optimizer's plain Python settings (`bias_correction`, `betas`, ...): numbers and
    flags only, never an array (reading one could evaluate what the program did not)."""
    found = {}
    for name in SETTINGS:
        value = getattr(optimizer, name, None)
        if isinstance(value, (list, tuple)) and all(type(v) in (int, float) for v in value):
            found[name] = list(value)
        elif type(value) in (bool, int, float):
            found[name] = value
    return found


def patch_creation(beats: Beats, module: ModuleType) -> None:
    """Record each optimizer created (its class), at most MAX_CREATED: with no update ever
    counted afterwards, the program built an optimizer and never stepped it."""
    base = getattr(module, "Optimizer", None)
    original = getattr(base, "__init__", None)
    if not isinstance(base, type) or getattr(original, "_mlxprobe", False):
        return

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if beats.created < MAX_CREATED:
            beats.created += 1
            beats.probe.emit(OPTIMIZER, name=type(self).__name__)
    init._mlxprobe = True  # type: ignore[attr-defined]
    base.__init__ = init


def patch_module_update(beats: Beats, module: ModuleType) -> None:
    """Note each module whose own `update` the program calls (a loop that updates its
    parameters by hand: `model.update(tree_map(...))`): its parameters are looked at."""
    base = getattr(module, "Module", None)
    original = getattr(base, "update", None)
    if beats.params is None or not callable(original) or getattr(original, "_mlxprobe", False):
        return
    watch = beats.params

    @functools.wraps(original)
    def update(self: Any, *args: Any, **kwargs: Any) -> Any:
        watch.saw_model(self)
        return original(self, *args, **kwargs)
    update._mlxprobe = True  # type: ignore[attr-defined]
    base.update = update  # type: ignore[union-attr]


def patch_module_freezing(beats: Beats, module: ModuleType) -> None:
    """Note each `freeze`/`unfreeze` of a module: the trainable set may have changed, so the
    census is taken again once an update ran on it (a second stage that freezes the model
    and trains a head may be over before the next parameter look)."""
    base = getattr(module, "Module", None)
    if beats.params is None or base is None:
        return
    watch = beats.params
    for name in ("freeze", "unfreeze"):
        original = getattr(base, name, None)
        if not callable(original) or getattr(original, "_mlxprobe", False):
            continue
        setattr(base, name, _noting(original, lambda: watch.trainables_changed(beats.updates)))


def _noting(original: Callable, note: Callable[[], None]) -> Callable:
    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        finally:
            note()
    wrapped._mlxprobe = True  # type: ignore[attr-defined]
    return wrapped


def patch_eval(beats: Beats, core: ModuleType) -> None:
    original = getattr(core, "eval", None)
    if callable(original) and not getattr(original, "_mlxprobe", False):
        wrapped = beats.evaluating(original)
        wrapped._mlxprobe = True  # type: ignore[attr-defined]
        core.eval = wrapped


def watch_open_evals(beats: Beats) -> None:
    def loop() -> None:
        while beats.probe.active:
            time.sleep(CHECK_EVERY_S)
            beats.report_open()
    threading.Thread(target=loop, name="mlxprobe-evals", daemon=True).start()
