"""Where a Python program compiles or checkpoints: each `mx.compile` and `mx.checkpoint`
call made by the program's own code.

Job: wrap `mlx.core.compile` and `mlx.core.checkpoint` so that a call made directly by code
outside the mlx package (mlx.nn compiles its activations at import: those are not the
program's) is recorded once per call site (`compile`, "where": file:line, "call": compile
or checkpoint), at most MAX_SITES sites each. A memory verdict then knows the program
compiles, and that a new input shape or a new Python constant passed to a compiled
function traces and keeps another graph (the commonest cause of memory that grows with a
compiled step); a no-update verdict knows it checkpoints (`mx.checkpoint(fn)`
differentiates only fn's arguments).

The wrapper calls the original with the same arguments and returns its result: it never
evaluates an array and never changes what is compiled.

May import: the standard library, `recorder`. Must not import: mlx (handed the module), the
watching side.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..protocol import COMPILE
from .recorder import Probe

MAX_SITES = 20


def _site(skip: str) -> str | None:
    """file:line of the caller, or None when the call came from inside the folder `skip`
    (the mlx package: mlx.nn compiles its activations while it is imported,
    `mlx.nn.utils.checkpoint(module)` checkpoints the right way) or from the import
    machinery: those are not the program's own calls."""
    frame = sys._getframe(2)
    name = frame.f_code.co_filename
    return None if name.startswith((skip, "<frozen")) else f"{name}:{frame.f_lineno}"


def recording(probe: Probe, original: Callable, skip: str, call: str = "compile") -> Callable:
    seen: set[str] = set()

    @functools.wraps(original)
    def compile(*args: Any, **kwargs: Any) -> Any:  # noqa: A001 - mx.compile's own name
        where = _site(skip)
        if where is not None and where not in seen and len(seen) < MAX_SITES:
            seen.add(where)
            probe.emit(COMPILE, where=where, call=call)
        return original(*args, **kwargs)
    compile._mlxprobe = True  # type: ignore[attr-defined]
    return compile


def patch_compile(probe: Probe, core: ModuleType) -> None:
    """Wrap `mx.compile` and `mx.checkpoint` (a checkpointed function differentiates only
    its arguments: a no-update fix names it)."""
    package = os.path.dirname(getattr(core, "__file__", "") or "")  # .../mlx
    skip = package + os.sep if package else "\0"
    for call in ("compile", "checkpoint"):
        original = getattr(core, call, None)
        if callable(original) and not getattr(original, "_mlxprobe", False):
            setattr(core, call, recording(probe, original, skip, call))
