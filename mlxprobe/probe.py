"""The public probe: `from mlxprobe import probe`, then `probe.step(loss=..., **metrics)` once
per training step and `probe.check(name, ok, ...)` for a correctness check.

Under `mlxprobe run` or `mlxprobe watch` the calls write records to the harness; anywhere else
they do nothing, so a user can leave them in a real training script. They never evaluate an
MLX array: pass plain floats (`loss.item()` where the loop evaluates anyway) to see values.
This is the way to give `watch` learning metrics it cannot see from outside (a validation
loss, a gradient norm).

Job: module-level functions over the one `Probe` of this process (`inside.recorder`).
May import: the standard library and `inside.recorder` only. Must not import mlx at import time.
"""

from __future__ import annotations

from typing import Any

from .inside.recorder import Probe, shared

__all__ = ["Probe", "active", "check", "note", "step"]


def step(loss: Any = None, **metrics: Any) -> None:
    """One heartbeat with the step's loss and metrics (plain numbers are recorded)."""
    shared().step(loss, **metrics)


def check(name: str, ok: bool, hint: str = "", **evidence: Any) -> None:
    """A correctness check; a failed one makes the verdict `wrong_result`."""
    shared().check(name, ok, hint, **evidence)


def note(**info: Any) -> None:
    """Free-form facts for the report (model size, settings)."""
    shared().note(**info)


def active() -> bool:
    """True when a harness is listening (the calls are recorded)."""
    return shared().active
