"""The run spec of a scenario variant: what to launch (`launch`) and what to expect.

Job: a frozen description built by the CLI or the pytest plugin from a catalogue entry and
the user's options; `launch` turns it into the runner's `Launch` (the child command). No
other behaviour.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..native import build
from ..watching.watchdog import BUDGET_S, Deadlines
from . import expectations, ranks
from .catalog import Scenario
from .launch import Launch
from .placement import Placement, machine_shape, place

BACKEND_ENV = "MLXPROBE_BACKEND"  # the backend of a distributed scenario (mlx.launch's default)


@dataclass(frozen=True)
class RunSpec:
    scenario_id: str
    variant: str
    expected: str
    import_root: Path
    module: str
    deadlines: Deadlines = field(default_factory=Deadlines)
    max_memory_mb: float | None = None
    env: tuple[tuple[str, str], ...] = ()  # extra environment for the child
    meta: dict = field(default_factory=dict, compare=False)  # the scenario's SCENARIO dict
    repeat: int = 0  # which of `run --repeat N` runs this is (0-based)
    expected_before_mlx: str | None = None  # the bound whose override set `expected`

    @property
    def launch(self) -> Launch:
        """The scenario child: `python -m mlxprobe.inside.child` for this variant; with
        `ranks` > 1 in SCENARIO, that many of them through `mlx.launch` on 127.0.0.1, writing
        to the run's FIFO (the launcher does not pass fds on to its ranks)."""
        if self.meta.get("native"):
            return self._native_launch()
        child = [sys.executable, "-m", "mlxprobe.inside.child", "--root", str(self.import_root),
                 "--module", self.module, "--variant", self.variant]
        count = self.rank_count
        if count == 1:
            return Launch(tuple(child), self.env, None, self.deadlines, self.max_memory_mb)
        argv = ranks.scenario_argv(count, child, self.placement.backend)
        return Launch(tuple(argv), self.env, None, self.deadlines, self.max_memory_mb,
                      records_fd=False, ranks=count)

    @property
    def rank_count(self) -> int:
        return int(self.meta.get("ranks", 1))

    @property
    def placement(self) -> Placement:
        """Where the ranks run on this machine (the backend asked for, its GPUs), or why
        they cannot (`skip`); a single process: no question."""
        backend = dict(self.env).get(BACKEND_ENV) or os.environ.get(BACKEND_ENV) or None
        if self.rank_count == 1:
            return Placement(backend, "one process")
        return place(self.rank_count, backend, machine_shape())


    def _native_launch(self) -> Launch:
        """A native scenario: its program (built once, cached) run as `watch` runs a compiled
        program: the interposer preloaded, progress from its records and its output lines.
        A NativeUnavailable (a UsageError) when it cannot be built here."""
        program, preload = native_paths(self.import_root, self.module, self.meta["native"])
        return Launch((str(program), self.variant), self.env, None, self.deadlines,
                      self.max_memory_mb, parse_output=True, records_fd=False, watched=True,
                      preload=str(preload))


def native_paths(import_root: Path, module: str, native: dict) -> tuple[Path, Path]:
    """(the built program, the built interposer) of a native scenario."""
    folder = Path(import_root, *module.split(".")[:-1]) / native["project"]
    return build.program(folder, native["program"]), build.interposer()


def spec_for(scenario: Scenario, variant: str, deadlines: Deadlines | None = None,
             max_memory_mb: float | None = None) -> RunSpec:
    """The spec for one variant; a budget not given (None) is the scenario's own, else the
    default: the spec always carries a number."""
    deadlines = deadlines or Deadlines()
    if deadlines.budget_s is None:
        deadlines = replace(deadlines, budget_s=scenario.budget_s or BUDGET_S)
    return RunSpec(scenario.id, variant, scenario.variants[variant], scenario.import_root,
                   scenario.module, deadlines, max_memory_mb, meta=scenario.meta,
                   expected_before_mlx=expectations.applied_bound(scenario.meta, variant))
