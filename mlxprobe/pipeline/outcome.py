"""One variant run end to end: spec -> runner -> raw facts -> classify -> verdict -> entry.

Job: the single path the CLI and the pytest plugin share, so both give the same verdicts.

Must not import: mlx, the child side, reporters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..judging.verdict import Verdict, classify, matches
from ..launching.spec import RunSpec
from ..results import report
from ..watching import runner
from ..watching.facts import RawResult
from . import lint_evidence, spin_source


@dataclass(frozen=True)
class Outcome:
    spec: RunSpec
    raw: RawResult
    verdict: Verdict
    entry: dict

    @property
    def matched(self) -> bool:
        return matches(self.verdict, self.spec.expected)

    @property
    def skipped(self) -> bool:
        return bool(self.entry.get("skipped"))


def execute(spec: RunSpec, abort: threading.Event | None = None,
            on_record: Callable[[dict], None] | None = None) -> Outcome:
    """Run one variant and judge it (an aborted run's outcome has `raw.interrupted` set).
    `on_record` sees the child's records as they arrive (see `runner.run`)."""
    placed = spec.placement
    if placed.skip:
        return skipped(spec, placed.skip)
    raw = runner.run(spec.launch, abort, on_record)
    verdict = classify(raw, spec.meta)
    # a scenario module holds every variant: only the files its stacks show, never the
    # whole module (the fixed variant's run must not cite the broken variant's line)
    entry = lint_evidence.attach(report.run_entry(spec, raw, verdict), [], raw.python_stacks)
    entry = spin_source.attach(entry, raw.python_stacks)
    if spec.rank_count > 1:
        entry["placement"] = placed.where
    return Outcome(spec, raw, verdict, entry)


def skipped(spec: RunSpec, why: str) -> Outcome:
    """A variant this machine cannot run as written: nothing launched, `skipped` with the
    one-line reason (counted apart from matched and mismatched runs by every reporter)."""
    verdict = Verdict("skipped", "machine_shape", why, "run it on a machine of the shape it "
                      "needs, or let mlxprobe choose the backend (unset MLXPROBE_BACKEND)",
                      {"ranks": spec.rank_count})
    raw = RawResult()
    entry = report.run_entry(spec, raw, verdict)
    entry.update(matched=False, skipped=why)
    return Outcome(spec, raw, verdict, entry)
