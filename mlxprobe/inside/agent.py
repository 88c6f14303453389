"""The agent inside a watched Python program: set up by the bootstrap before the program runs.

Job: connect the shared probe to the run's record FIFO, hold the lifeline, arm the stack
dump, write a start record, and hook imports: `mlx.core` (evaluations, collectives),
`mlx.optimizers` (updates), `mlx_lm.tuner.trainer` (mlx-lm's losses through its callback),
IPython's shell (a Jupyter kernel's cells: `notebook`). An uncaught AttributeError writes the
names its object holds closest to the one asked for (`near`), then Python's report runs.
In a rank of a distributed job (its launcher set its rank) an uncaught exception is also
written as an error record: `mlx.launch` exits 0 whatever its ranks did. When no harness is
listening (the variable is set but the FIFO is gone) it does nothing.

May import: the standard library and the inside modules; mlx only through the import hook.
Must not import: the watching side.
"""

from __future__ import annotations

import atexit
import os
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from types import ModuleType, TracebackType

from ..protocol import ERROR, EXITING, MLX, START
from . import beats as beating
from . import collectives, compiles, imports, loads, near, notebook, rates, trainers
from .process import arm_stack_dump, hold_lifeline, on_uncaught
from .recorder import Probe, shared

OPTIMIZER_MODULES = ("mlx.optimizers.optimizers", "mlx.optimizers")
MODULE_BASE = "mlx.nn.layers.base"  # nn.Module: a program's own `model.update(...)`


def start() -> None:
    probe = shared()
    if not probe.active:
        return
    hold_lifeline()
    armed = arm_stack_dump()
    probe.emit(START, pid=os.getpid(), stacks=armed, source="bootstrap",
               argv=[str(a)[:200] for a in sys.orig_argv[:16]],
               python=platform.python_version())
    _on_shutdown(lambda: probe.emit(EXITING, pid=os.getpid()))
    beats = beating.Beats(probe)
    hooks = {"mlx.core": lambda m: _core(beats, m),
             "mlx_lm.tuner.trainer": lambda m: trainers.patch_trainer(probe, m),
             notebook.SHELL_MODULE: lambda m: notebook.patch_shell(probe, m)}
    for name in OPTIMIZER_MODULES:
        hooks[name] = lambda m: _optimizers(beats, m)
    hooks[MODULE_BASE] = lambda m: _module_base(beats, probe, m)
    imports.install(hooks)
    beating.watch_open_evals(beats)
    near.report_near(probe)
    if probe.rank is not None:
        _report_uncaught(probe)


def _module_base(beats: beating.Beats, probe: Probe, module: ModuleType) -> None:
    beating.patch_module_update(beats, module)
    beating.patch_module_freezing(beats, module)
    loads.patch_load_weights(probe, module)


def _on_shutdown(announce: Callable[[], None]) -> None:
    """Say "exiting" as soon as the program's main thread is done: shutting down (atexit
    handlers, freeing a big graph, a CUDA context) beats no more, and Python stops answering
    stack requests once its finalisation has begun. `threading._register_atexit` (CPython
    3.9+) runs before the program's own atexit handlers; plain atexit where it is missing."""
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(announce)
            return
    except RuntimeError:  # already shutting down
        return
    atexit.register(announce)


def _optimizers(beats: beating.Beats, module: ModuleType) -> None:
    beating.patch_optimizers(beats, module)
    beating.patch_creation(beats, module)
    rates.patch_rates(beats.probe, module)


def _core(beats: beating.Beats, core: ModuleType) -> None:
    beating.patch_eval(beats, core)
    compiles.patch_compile(beats.probe, core)
    counter = collectives.Collectives(beats.probe, lambda: beats.steps + 1)
    collectives.patch_distributed(counter, core)
    beats.probe.emit(MLX, mlx_version=getattr(core, "__version__", "unknown"))


def _report_uncaught(probe: Probe) -> None:
    """An exception that ends this rank becomes an error record, then Python's own report."""

    def report(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        probe.emit(ERROR, type=kind.__name__, message=str(value)[:4000], traceback=text[-8000:])
    on_uncaught(report)
