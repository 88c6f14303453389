"""Collectives issued by one rank, counted the way PyTorch's Flight Recorder does.

Job: wrap the functions of `mlx.core.distributed` that build a collective (`all_sum`,
`all_gather`, `all_max`, `all_min`, `sum_scatter`, `send`, `recv`, `recv_like`) so that each
call gets this rank's next sequence number, the step it was issued in (the heartbeats so
far + 1) and the program's line that issued it, and is written as one compact `collective`
record, up to MAX_RECORDED per process (a long run's later collectives are only counted:
the first mismatch across ranks is what names the culprit, and it shows early). The
wrappers call the original with the same arguments and return its (lazy) result: they never
evaluate anything.

May import: the standard library, `recorder`, `protocol`; mlx only through the module handed
to it. Must not import: the watching side.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..protocol import COLLECTIVE
from .recorder import Probe

OPS = ("all_sum", "all_gather", "all_max", "all_min", "sum_scatter", "send", "recv",
       "recv_like")
MAX_RECORDED = 2000  # records per process; ~150 bytes each


class Collectives:
    """This rank's collective counter; `step` says which step is in progress."""

    def __init__(self, probe: Probe, step: Callable[[], int]) -> None:
        self.probe = probe
        self.step = step
        self.issued = 0
        self._lock = threading.Lock()

    def issuing(self, op: str, original: Callable) -> Callable:
        @functools.wraps(original)
        def collective(*args: Any, **kwargs: Any) -> Any:
            self.count(op)
            return original(*args, **kwargs)
        collective._mlxprobe = True  # type: ignore[attr-defined]
        return collective

    def count(self, op: str) -> None:
        with self._lock:
            self.issued += 1
            seq = self.issued
        if seq <= MAX_RECORDED:
            self.probe.emit(COLLECTIVE, seq=seq, op=op, step=self.step(), where=_caller(),
                            capped=seq == MAX_RECORDED)


def _caller() -> str:
    """'file:line' of the program's own code that issued the collective: the first frame
    outside mlx and mlxprobe (`nn.average_gradients` calls `all_sum` for the program)."""
    skipped = _library_dirs()
    frame = sys._getframe(3)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(skipped):
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


@functools.lru_cache(maxsize=1)
def _library_dirs() -> tuple[str, ...]:
    """The folders of the mlx package (imported by then) and of mlxprobe's inside."""
    mlx = sys.modules.get("mlx")
    found = [os.path.dirname(os.path.abspath(__file__)) + os.sep]
    for folder in getattr(mlx, "__path__", []):
        found.append(os.path.abspath(folder) + os.sep)
    return tuple(found)


def patch_distributed(collectives: Collectives, core: ModuleType) -> list[str]:
    """Wrap each collective of `core.distributed` once; the names wrapped."""
    module = getattr(core, "distributed", None)
    wrapped = []
    for op in OPS:
        original = getattr(module, op, None)
        if not callable(original) or getattr(original, "_mlxprobe", False):
            continue
        try:
            setattr(module, op, collectives.issuing(op, original))
        except (AttributeError, TypeError):
            continue
        wrapped.append(op)
    return wrapped
