"""The pytest plugin: `pytest scenarios/` collects each scenario variant as a test item.

Job: a Python file with a top-level `SCENARIO = {...}` literal becomes a collector whose items
are its variants (`scenarios/step2_hang.py::broken`). An item runs its variant through the
same path as the CLI (`outcome.execute`) and passes when the verdict matches the expected
one; its failure text shows the verdict, evidence, fix hint and, for a hang, the stacks.
`--mlxprobe-json PATH` writes the JSON report of the items that ran; the run settings are
the CLI's (`launching.settings`) prefixed `--mlxprobe-` (`--mlxprobe-budget S`, ...).
Under pytest-xdist (`-n N`) each worker writes its share next to PATH and the controller
merges the shares into PATH when the session ends.

Must not import: mlx, the child side (the plugin loads in every pytest run).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .errors import UsageError
from .launching import catalog, settings
from .launching.spec import native_paths, spec_for
from .native import build
from .pipeline.outcome import Outcome, execute
from .reporters import table
from .results import report, textfile

ENTRIES = pytest.StashKey[list]()
SETTINGS = pytest.StashKey[tuple]()
PREFIX = "mlxprobe-"
SHARE = ".share-"  # PATH.share-gw0: an xdist worker's runs
_CALLED_BY_RUN: set[str] = set()  # node ids whose test body ran (xdist: all workers')
UPSTREAM = "upstream"  # the tag of the guards against mlx's own bugs, always a known marker


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlxprobe", "mlxprobe scenarios")
    group.addoption("--mlxprobe-json", metavar="PATH", help="write the scenarios' JSON report")
    settings.add_run_options(group, PREFIX)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[ENTRIES] = []
    _CALLED_BY_RUN.clear()
    config.addinivalue_line("markers", f"{UPSTREAM}: scenario guarding against a fixed mlx "
                            "bug (SCENARIO['tags']); select with -m upstream")
    try:
        config.stash[SETTINGS] = settings.deadlines_from(config.option, PREFIX)
        path = config.getoption("--mlxprobe-json")
        if path:  # before the runs, not after them
            textfile.writable_file(Path(path))
            if not hasattr(config, "workerinput"):  # shares of an earlier session: not ours
                for old in _shares(Path(path)):
                    old.unlink()
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def _shares(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + SHARE + "*"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Seen by the xdist controller for every worker's item: which ones ran their body."""
    if report.when == "call":
        _CALLED_BY_RUN.add(report.nodeid)


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
        deadlines, max_memory = config.stash[SETTINGS]
        if self.scenario.native:
            _build_or_skip(self.scenario)
        spec = spec_for(self.scenario, self.name, deadlines, max_memory)
        outcome = execute(spec)
        config.stash[ENTRIES].append(outcome.entry)
        if outcome.skipped:  # this machine cannot run it as written: the reason says why
            pytest.skip(str(outcome.entry["skipped"]))
        if not outcome.matched:
            raise ScenarioMismatch(outcome)

    def repr_failure(self, excinfo, style=None) -> str:  # noqa: ANN001
        if isinstance(excinfo.value, ScenarioMismatch):
            return table.details(excinfo.value.outcome.entry)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.scenario.id} [{self.name}] expects " \
                             f"{self.scenario.variants[self.name]}"


def _build_or_skip(scenario: catalog.Scenario) -> None:
    """A native scenario's program, built once (cached); skipped with what to install when
    this machine has no toolchain (a build that fails with one is an error, not a skip)."""
    try:
        native_paths(scenario.import_root, scenario.module, scenario.native)
    except build.NativeUnavailable as exc:
        if build.toolchain_problem() is None:
            raise
        pytest.skip(f"native scenario not built: {exc}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the report of the items that ran; complete only when every collected scenario
    item ran (not when pytest was interrupted, stopped at a failure, or an item errored
    before its verdict), else the runs it lacks and why. Written even when nothing ran: an
    older report at that path must not pass for this session's (an empty one is refused
    by `compare`)."""
    path = session.config.getoption("--mlxprobe-json")
    entries = session.config.stash.get(ENTRIES, [])
    if not path:
        return
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:  # an xdist worker: its share, merged by the controller
        share = Path(str(path) + SHARE + str(worker.get("workerid", "w")))
        report.write(share, report.build(entries, True, [], ""))
        return
    shares = _shares(Path(path))
    if shares:
        _merge(Path(path), shares, entries, exitstatus)
        return
    ran = {(e["scenario"], e["variant"]) for e in entries}
    missing = [{"scenario": i.scenario.id, "variant": i.name, "repeat": 0}
               for i in session.items if isinstance(i, ScenarioItem)
               and (i.scenario.id, i.name) not in ran]
    report.write(Path(path), report.build(entries, not missing, missing,
                                          _why_stopped(session, exitstatus)))


def _why_stopped(session: pytest.Session, exitstatus: int) -> str:
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "pytest was interrupted"
    if session.shouldstop or session.shouldfail:
        return f"pytest stopped early: {session.shouldstop or session.shouldfail}"
    return "not run to a verdict (skipped, or an error in the harness)"



def _merge(path: Path, shares: list[Path], entries: list[dict], exitstatus: int) -> None:
    """The controller of an xdist session: the workers' shares as one report, complete when
    every item whose body ran left its run (a worker that crashed mid-run did not)."""
    for share in shares:
        try:
            entries = entries + list(report.load(share).get("runs", []))
        except UsageError:
            pass
        share.unlink(missing_ok=True)
    lost = len(_CALLED_BY_RUN) - len(entries)
    complete = lost <= 0 and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    why = "" if complete else (f"{lost} run(s) lost with an xdist worker" if lost > 0 else
                               "pytest stopped before every item ran")
    report.write(path, report.build(entries, complete, [], why))
