"""The evidence model's two types: a `Verdict`, and a `Rule` unit that may give one.

Job: one shape for every verdict rule (after Prometheus alerting rules and ruff's rule
files): the signal it reads (metrics, params, memory, stacks, errors, exit, records), its
threshold in words, the measurement or public issue behind it, and `judge(raw, meta)`, a
pure function returning a `Verdict` or None. `verdict.classify` runs every rule of its
rulebook in order; the first verdict decides, and the report lists each rule that fired and
on which signal. Adding a rule touches one unit and the rulebook's order, nothing else.

Must not import: mlx, the watching side's runner, reporters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    kind: str
    detail: str = ""
    reason: str = ""
    hint: str = ""
    evidence: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.detail}" if self.detail else self.kind


@dataclass(frozen=True)
class Rule:
    """One verdict rule: `judge(raw, meta)` gives its verdict or None."""

    name: str  # "diverged.metric": the class it gives, then what it looks at
    signal: str  # metrics | params | memory | stacks | errors | exit | records
    threshold: str  # in words, with the numbers
    source: str  # the measurement behind the threshold, or the public issue
    judge: Callable[[Any, dict], Verdict | None]

    def fired(self, verdict: Verdict) -> dict:
        return {"rule": self.name, "signal": self.signal, "verdict": verdict.label}
