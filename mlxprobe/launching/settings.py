"""The run settings (deadlines and memory limit): one table for the CLI and the pytest plugin.

Job: each row says a setting's option name, metavar, help (with its default), parser
(validator) and which `Deadlines` field it sets (None: the memory limit). From it the options
are built, for `mlxprobe run` as `--NAME` and for pytest as `--mlxprobe-NAME`, all with the
default None, meaning "not given": the `Deadlines` default applies, and for the budget the
scenario's own `budget_s` first (so an explicit `--budget 600` is honoured, not mistaken for
the default). A bad value is a one-line error naming the option it came from.

Public, for any command that runs variants (e.g. a future `mlxprobe watch`):
- `add_run_options(parser, prefix="")`: adds the five options to an argparse parser (or, with
  `prefix="mlxprobe-"`, a pytest option group: anything with `add_argument` or `addoption`);
- `deadlines_from(values, prefix="") -> (Deadlines, max_memory_mb | None)`: reads them back
  from an argparse Namespace (or any object whose attributes are the option dests; pytest's
  `config.option`), checking text values; a `UsageError` naming `--PREFIXNAME` otherwise.

Must not import: mlx, pytest, the runner, anything of mlxprobe but errors and the watchdog's
`Deadlines`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError
from ..watching.watchdog import BUDGET_S, Deadlines


def finite_positive(text: str | float) -> float:
    """A finite number > 0; ValueError with a short reason otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{text!r} must be a finite number > 0")
    return value


@dataclass(frozen=True)
class Setting:
    name: str  # the option without dashes or prefix: "step-floor"
    field: str | None  # the Deadlines field it sets; None for the memory limit
    metavar: str
    help: str  # says the default (every option's own default is None: "not given")
    parse: Callable[[str | float], float] = finite_positive  # ValueError with a reason

    def flag(self, prefix: str = "") -> str:
        return f"--{prefix}{self.name}"

    def dest(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}".replace("-", "_")


SETTINGS = (
    Setting("startup-timeout", "startup_s", "S", "seconds allowed until the first step "
            f"(compiler time not counted; default {Deadlines.startup_s:g})"),
    Setting("step-floor", "step_floor_s", "S", "minimum seconds allowed between two steps "
            f"(default {Deadlines.step_floor_s:g})"),
    Setting("step-factor", "step_factor", "K", "allowed step time = K x the slowest recent "
            f"step (default {Deadlines.step_factor:g})"),
    Setting("budget", "budget_s", "S", "total seconds per variant (default: the scenario's "
            f"own, else {BUDGET_S:g})"),
    Setting("max-memory", None, "MB", "kill a variant whose process tree RSS exceeds this "
            "(default: no limit)"),
)


def _argparse_type(setting: Setting) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return setting.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def add_run_options(parser: object, prefix: str = "") -> None:
    """Add the settings to an argparse parser or group (`add_argument`, values checked as
    they are parsed) or a pytest group (`addoption`, text checked by `deadlines_from`)."""
    argparse_like = hasattr(parser, "add_argument")
    add = parser.add_argument if argparse_like else parser.addoption  # type: ignore[attr-defined]
    for s in SETTINGS:
        add(s.flag(prefix), dest=s.dest(prefix), default=None, metavar=s.metavar, help=s.help,
            **({"type": _argparse_type(s)} if argparse_like else {}))


def value_of(setting: Setting, values: object, prefix: str = "") -> float | None:
    """The setting's checked value, None when not given; UsageError naming its option."""
    raw = getattr(values, setting.dest(prefix), None)
    if raw is None:
        return None
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise UsageError(f"{setting.flag(prefix)}: {exc}") from None


def deadlines_from(values: object, prefix: str = "") -> tuple[Deadlines, float | None]:
    """(Deadlines with the given settings, the memory limit in MB or None)."""
    given = {s.field: value_of(s, values, prefix) for s in SETTINGS}
    memory = given.pop(None)
    return Deadlines(**{k: v for k, v in given.items() if v is not None}), memory
