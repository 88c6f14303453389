"""The lint scored on the dev half of the failure corpus (issue 21, `corpus/dev`): >= 80 %
of the broken scripts whose bug leaves a source mark get a finding, and no fixed twin or
correct loop gets any. The held-out half is scored by the coordinator, never here.

Cost: < 1 s (a few dozen small scripts, no MLX).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "corpus" / "dev"
sys.path.insert(0, str(ROOT / "benchmarks"))
from lint_corpus import TARGET, score  # noqa: E402

pytestmark = pytest.mark.skipif(not (DEV / "cases.toml").is_file(),
                                reason="corpus/dev (issue 21) is not in this checkout yet")


def test_the_marked_broken_scripts_are_found() -> None:
    broken, _ = score(DEV)
    missed = [name for name, found, _ in broken if not found]
    assert broken and (len(broken) - len(missed)) / len(broken) >= TARGET, missed


def test_no_finding_on_a_fixed_twin_or_a_correct_loop() -> None:
    _, clean = score(DEV)
    assert [(name, what) for name, what in clean if what] == []
