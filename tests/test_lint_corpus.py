"""The lint scored on the development halves of the failure corpus (issue 21): `corpus/dev`,
and `corpus/heldout`, scored once and development material since: >= 80 % of the broken
scripts whose bug leaves a source mark get a finding, and no fixed twin or correct loop gets
any. A fresh held-out half, when there is one, is scored by the coordinator, never here.

Cost: < 1 s (a few dozen small scripts, no MLX).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "corpus" / "dev"
HALVES = [ROOT / "corpus" / name for name in ("dev", "heldout", "fresh", "fresh2")]
sys.path.insert(0, str(ROOT / "benchmarks"))
from lint_corpus import TARGET, score  # noqa: E402

pytestmark = pytest.mark.skipif(not (DEV / "cases.toml").is_file(),
                                reason="corpus/dev (issue 21) is not in this checkout yet")


@pytest.mark.parametrize("half", HALVES, ids=lambda p: p.name)
def test_the_marked_broken_scripts_are_found(half: Path) -> None:
    broken, _ = score(half)
    missed = [name for name, found, _ in broken if not found]
    assert broken and (len(broken) - len(missed)) / len(broken) >= TARGET, missed


@pytest.mark.parametrize("half", HALVES, ids=lambda p: p.name)
def test_no_finding_on_a_fixed_twin_or_a_correct_loop(half: Path) -> None:
    _, clean = score(half)
    assert [(name, what) for name, what in clean if what] == []
