"""The README's rulebook table is the code's: every rule unit, its signal, threshold and source."""

from __future__ import annotations

from pathlib import Path

from mlxprobe.judging.verdict import rulebook

README = Path(__file__).resolve().parents[1] / "README.md"


def row(rule) -> str:
    return f"| `{rule.name}` | {rule.signal} | {rule.threshold} | {rule.source} |"


def test_every_rule_unit_is_in_the_readme_as_the_code_states_it():
    text = README.read_text()
    missing = [row(rule) for rule in rulebook() if row(rule) not in text]
    assert not missing, "README rulebook rows to write:\n" + "\n".join(missing)
