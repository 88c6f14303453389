"""The learning rate each optimizer was built with, and the program's later settings of it.

Job: wrap `Optimizer._maybe_schedule` (each optimizer class of `mlx.optimizers` hands it its
learning rate in `__init__`) and the setter of `Optimizer.learning_rate`, and record (`rate`
records): whether the rate was built as a schedule (a callable) or as a constant, with the
number given; and the first MAX_SETS times the program sets the rate afterwards. With these,
a learning rate the program prints as a schedule while every optimizer it steps holds a
constant it never sets is told apart from one that reaches the optimizer
(`judging/unapplied_rate`).

Only the Python values handed in are read (a float, a callable's presence); an array handed
in is recorded as neither, never read, so nothing is evaluated. A rate written straight into
`optimizer.state["learning_rate"]` is not seen (the judging side allows for it).

May import: the standard library, `recorder`; mlx only through the module handed to it.
Must not import: the watching side.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from ..protocol import RATE, RATES_BUILT
from .recorder import Probe

MAX_SETS = 3  # later settings recorded: one says the program sets its rate itself


class RateCount:
    """How many rate records of each sort this process wrote."""

    def __init__(self, probe: Probe) -> None:
        self.probe, self.built, self.sets = probe, 0, 0

    def built_with(self, optimizer: Any, param: Any) -> None:
        if self.built < RATES_BUILT:  # a program may build one per trial
            self.built += 1
            value = float(param) if type(param) in (int, float) else None
            self.probe.emit(RATE, optimizer=type(optimizer).__name__,
                            schedule=callable(param), value=value)

    def set_to(self, optimizer: Any, value: Any) -> None:
        if self.sets < MAX_SETS:
            self.sets += 1
            self.probe.emit(RATE, optimizer=type(optimizer).__name__, set=True,
                            value=float(value) if type(value) in (int, float) else None)


def patch_rates(probe: Probe, module: ModuleType) -> None:
    """Wrap the base optimizer's `_maybe_schedule` and its `learning_rate` setter, once."""
    base = getattr(module, "Optimizer", None)
    schedule = getattr(base, "_maybe_schedule", None)
    if not isinstance(base, type) or schedule is None or getattr(schedule, "_mlxprobe", False):
        return
    count = RateCount(probe)
    base._maybe_schedule = _scheduling(count, schedule)
    prop = base.__dict__.get("learning_rate")
    if isinstance(prop, property) and prop.fset is not None:
        base.learning_rate = property(prop.fget, _setting(count, prop.fset), prop.fdel,
                                      prop.__doc__)


def _scheduling(count: RateCount, original: Any) -> Any:
    @functools.wraps(original)
    def maybe_schedule(self: Any, name: str, param: Any) -> Any:
        if name == "learning_rate":
            count.built_with(self, param)
        return original(self, name, param)
    maybe_schedule._mlxprobe = True  # type: ignore[attr-defined]
    return maybe_schedule


def _setting(count: RateCount, original: Any) -> Any:
    @functools.wraps(original)
    def set_rate(self: Any, value: Any) -> None:
        count.set_to(self, value)
        original(self, value)
    return set_rate
