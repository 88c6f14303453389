"""The run spec: everything the runner needs to start and watch one scenario variant.

Job: a frozen description built by the CLI or the pytest plugin from a catalogue entry and
the user's options. No behaviour.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..watching.watchdog import Deadlines
from .catalog import Scenario


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


def spec_for(scenario: Scenario, variant: str, deadlines: Deadlines | None = None,
             max_memory_mb: float | None = None) -> RunSpec:
    """The spec for one variant; the scenario's own budget applies unless one was given."""
    deadlines = deadlines or Deadlines()
    if scenario.budget_s is not None and deadlines.budget_s == Deadlines().budget_s:
        deadlines = replace(deadlines, budget_s=scenario.budget_s)
    return RunSpec(scenario.id, variant, scenario.variants[variant], scenario.import_root,
                   scenario.module, deadlines, max_memory_mb, meta=scenario.meta)
