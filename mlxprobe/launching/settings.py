"""The run settings (deadlines and memory limit): one table for the CLI and the pytest plugin.

Job: each row says a setting's option name, metavar, help (with its default), parser
(validator) and which `Deadlines` field it sets (None: the memory limit). From it the options
are built, for `mlxprobe run` as `--NAME` and for pytest as `--mlxprobe-NAME`, all with the
default None, meaning "not given": the `Deadlines` default applies, and for the budget the
scenario's own `budget_s` first (so an explicit `--budget 600` is honoured, not mistaken for
the default). A bad value is a one-line error naming the option it came from.

Public, for any command that runs something (`run`, `watch`, the pytest plugin):
- `add_run_options(parser, prefix="", base=None)`: adds the options to an argparse
  parser (or, with `prefix="mlxprobe-"`, a pytest option group: anything with
  `add_argument` or `addoption`); the help states `base`'s defaults (`watch` has its own);
- `deadlines_from(values, prefix="", base=None) -> (Deadlines, max_memory_mb | None)`: `base`
  with the options given; reads them back
  from an argparse Namespace (or any object whose attributes are the option dests; pytest's
  `config.option`), checking text values; a `UsageError` naming `--PREFIXNAME` otherwise.

Must not import: mlx, pytest, the runner, anything of mlxprobe but errors and the watchdog's
`Deadlines`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

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
    about: str  # the help, without its default (said by `help`)
    parse: Callable[[str | float], float] = finite_positive  # ValueError with a reason

    def flag(self, prefix: str = "") -> str:
        return f"--{prefix}{self.name}"

    def dest(self, prefix: str = "") -> str:
        return f"{prefix}{self.name}".replace("-", "_")

    def help(self, base: Deadlines) -> str:
        """The help with the default that applies when the option is not given."""
        value = getattr(base, self.field) if self.field else None
        if self.field == "budget_s" and value is None:
            default = f"the scenario's own, else {BUDGET_S:g}"
        elif value is None or value == math.inf:
            default = "no limit"
        else:
            default = f"{value:g}"
        return f"{self.about} (default: {default})"


SETTINGS = (
    Setting("startup-timeout", "startup_s", "S", "seconds allowed until the first step "
            "(compiler time not counted)"),
    Setting("idle-timeout", "idle_s", "S", "before the first step: seconds every process of "
            "the program's tree may sleep (no CPU, I/O, compiler or output) before it is a "
            "hang"),
    Setting("step-floor", "step_floor_s", "S", "minimum seconds allowed between two steps"),
    Setting("step-factor", "step_factor", "K", "allowed step time = K x the slowest recent "
            "step"),
    Setting("budget", "budget_s", "S", "total seconds per run"),
    Setting("max-memory", None, "MB", "kill a run whose process tree RSS exceeds this"),
)


def _argparse_type(setting: Setting) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return setting.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def add_run_options(parser: object, prefix: str = "", base: Deadlines | None = None) -> None:
    """Add the settings to an argparse parser or group (`add_argument`, values checked as
    they are parsed) or a pytest group (`addoption`, text checked by `deadlines_from`).
    `base` holds the defaults the help states (those `deadlines_from` is then given)."""
    base = base or Deadlines()
    argparse_like = hasattr(parser, "add_argument")
    add = parser.add_argument if argparse_like else parser.addoption  # type: ignore[attr-defined]
    for s in SETTINGS:
        add(s.flag(prefix), dest=s.dest(prefix), default=None, metavar=s.metavar,
            help=s.help(base), **({"type": _argparse_type(s)} if argparse_like else {}))


def value_of(setting: Setting, values: object, prefix: str = "") -> float | None:
    """The setting's checked value, None when not given; UsageError naming its option."""
    raw = getattr(values, setting.dest(prefix), None)
    if raw is None:
        return None
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise UsageError(f"{setting.flag(prefix)}: {exc}") from None


def deadlines_from(values: object, prefix: str = "",
                   base: Deadlines | None = None) -> tuple[Deadlines, float | None]:
    """(`base`, default `Deadlines()`, with the given settings; the memory limit or None)."""
    given = {s.field: value_of(s, values, prefix) for s in SETTINGS}
    memory = given.pop(None)
    return replace(base or Deadlines(), **{k: v for k, v in given.items() if v is not None}), \
        memory
