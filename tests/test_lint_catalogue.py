"""The lint over the whole catalogue: each broken variant's bug is found where the rule table
says, nothing else fires, and no finding lies in code only the fixed variant runs.

A new scenario must be added to `SCENARIO_RULES`, `NOT_VISIBLE` or `NO_SOURCE_MARK` (in
`mlxprobe/lint/catalogue.py`), so a failure mode without a rule shows up here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlxprobe.launching import catalog
from mlxprobe.lint import lint_source
from mlxprobe.lint.catalogue import NO_SOURCE_MARK, NOT_VISIBLE, RULES, SCENARIO_RULES

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = catalog.discover(ROOT / "scenarios")
FIXED = "fixed"


def test_every_scenario_is_accounted_for_once() -> None:
    tables = [set(SCENARIO_RULES), set(NOT_VISIBLE), set(NO_SOURCE_MARK)]
    ids = {s.id for s in SCENARIOS}
    for scenario in ids:
        assert sum(scenario in t for t in tables) == 1, (
            f"{scenario}: add it to SCENARIO_RULES (its rule) or say why it has none")
    assert set().union(*tables) <= ids, "the rule table names scenarios that do not exist"


def test_every_rule_scenario_exists_and_lists_the_rule() -> None:
    for rule in RULES.values():
        if not rule.scenario:
            assert rule.source.startswith("https://github.com/"), rule.id
            continue
        expected = {r for r, _ in SCENARIO_RULES.get(rule.scenario, ())}
        assert rule.id in expected or rule.scenario in {**NOT_VISIBLE, **NO_SOURCE_MARK}


def functions(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """(dotted name, def) of every function, `broken.step` for one nested in `broken`."""
    found: list[tuple[str, ast.AST]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((name, child))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def innermost(tree: ast.Module, line: int) -> str:
    spans = [(d.end_lineno - d.lineno, name) for name, d in functions(tree)
             if d.lineno <= line <= d.end_lineno]
    return min(spans)[1] if spans else ""


def reachable(tree: ast.Module, start: str) -> set[str]:
    """Top-level functions `start` refers to, directly or through others (by name)."""
    top = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in top:
            continue
        seen.add(name)
        todo.extend(n.id for n in ast.walk(top[name]) if isinstance(n, ast.Name))
    return seen


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_broken_is_caught_and_fixed_is_clean(scenario: catalog.Scenario) -> None:
    text = scenario.path.read_text()
    tree = ast.parse(text)
    found = {(f.rule, innermost(tree, f.line)) for f in lint_source(text, str(scenario.path))}
    assert found == set(SCENARIO_RULES.get(scenario.id, ())), scenario.path
    broken = set().union(*(reachable(tree, v) for v in scenario.variants if v != FIXED))
    fixed_only = reachable(tree, FIXED) - broken
    for _, function in found:
        top = function.split(".")[0]
        assert top in broken, f"{function} is not run by any broken variant"
        assert top not in fixed_only, f"{function} is run only by the fixed variant"


def test_the_readme_rule_table_lists_every_rule() -> None:
    text = (ROOT / "README.md").read_text()
    for rule in RULES.values():
        row = next((line for line in text.splitlines() if line.startswith(f"| {rule.id} |")), "")
        assert rule.message in row and ("yes" if rule.autofix else "no") in row.split("|")[-2]
