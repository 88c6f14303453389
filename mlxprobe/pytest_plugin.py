"""The pytest plugin: `pytest scenarios/` collects each scenario variant as a test item.

Job: a Python file with a top-level `SCENARIO = {...}` literal becomes a collector whose items
are its variants (`scenarios/step2_hang.py::broken`). An item runs its variant through the
same path as the CLI (`outcome.execute`) and passes when the verdict matches the expected
one; its failure text shows the verdict, evidence, fix hint and, for a hang, the stacks.
`--mlxprobe-json PATH` writes the JSON report of the items that ran.

Must not import: mlx, the child side (the plugin loads in every pytest run).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from .errors import UsageError
from .launching import catalog
from .launching.spec import spec_for
from .pipeline.outcome import Outcome, execute
from .reporters import table
from .results import report
from .watching.watchdog import Deadlines

ENTRIES = pytest.StashKey[list]()
UPSTREAM = "upstream"  # the tag of the guards against mlx's own bugs, always a known marker


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlxprobe", "mlxprobe scenarios")
    group.addoption("--mlxprobe-json", metavar="PATH", help="write the scenarios' JSON report")
    group.addoption("--mlxprobe-step-floor", type=float, default=Deadlines.step_floor_s,
                    metavar="S", help="minimum seconds allowed between two steps")
    group.addoption("--mlxprobe-max-memory", type=float, default=None, metavar="MB",
                    help="kill a variant whose process tree RSS exceeds this")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[ENTRIES] = []
    config.addinivalue_line("markers", f"{UPSTREAM}: scenario guarding against a fixed mlx "
                            "bug (SCENARIO['tags']); select with -m upstream")
    for option in ("--mlxprobe-step-floor", "--mlxprobe-max-memory"):
        value = config.getoption(option)
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise pytest.UsageError(f"{option} must be a finite number > 0, got {value}")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    name = file_path.name
    if file_path.suffix != ".py" or name.startswith(("_", "test_", "conftest")):
        return None
    try:
        defines = catalog.read_metadata(file_path) is not None
    except UsageError:
        defines = True  # let collection report the error on this file
    return ScenarioFile.from_parent(parent, path=file_path) if defines else None


class ScenarioFile(pytest.File):
    def collect(self):  # noqa: ANN201 - pytest's own signature
        try:
            scenario = catalog.load_file(self.path)
        except UsageError as exc:
            raise self.CollectError(str(exc)) from None
        markers = {line.split(":")[0].strip() for line in self.config.getini("markers")}
        for tag in scenario.tags:  # each tag is a marker: `pytest scenarios/ -m upstream`
            if tag not in markers:  # registered, so --strict-markers accepts it
                self.config.addinivalue_line("markers", f"{tag}: scenarios tagged {tag}")
                markers.add(tag)
        for variant in scenario.variants:
            item = ScenarioItem.from_parent(self, name=variant, scenario=scenario)
            for tag in scenario.tags:
                item.add_marker(tag)
            yield item


class ScenarioMismatch(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.verdict.label)
        self.outcome = outcome


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: catalog.Scenario, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self) -> None:
        config = self.config
        deadlines = Deadlines(step_floor_s=config.getoption("--mlxprobe-step-floor"))
        spec = spec_for(self.scenario, self.name, deadlines,
                        config.getoption("--mlxprobe-max-memory"))
        outcome = execute(spec)
        config.stash[ENTRIES].append(outcome.entry)
        if not outcome.matched:
            raise ScenarioMismatch(outcome)

    def repr_failure(self, excinfo, style=None) -> str:  # noqa: ANN001
        if isinstance(excinfo.value, ScenarioMismatch):
            return table.details(excinfo.value.outcome.entry)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.scenario.id} [{self.name}] expects " \
                             f"{self.scenario.variants[self.name]}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--mlxprobe-json")
    entries = session.config.stash.get(ENTRIES, [])
    if path and entries:
        report.write(Path(path), report.build(entries, complete=not session.shouldstop))
