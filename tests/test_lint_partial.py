"""The partial parse: only the blocks (and, for rules that read one method, only the methods
of a class) that can hold a finding are parsed, every line number stays exact, and what the
rules find is what they find in the whole file."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from mlxprobe.lint import engine, partial
from mlxprobe.lint.rules import ALL
from mlxprobe.lint.source import index

ROOT = Path(__file__).resolve().parent.parent
MODULE = '''import mlx.core as mx
import mlx.nn as nn


class Net(nn.Module):
    """A model."""

    scale = 2

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    @property
    def size(self):
        return 4

    def __call__(self, x):
        return self.fc(x)

    def loss(self, x, y):
        return mx.mean((self(x) - y) ** 2)


def helper():
    return 1
'''
IN_METHODS = [r for r in ALL if r.in_methods]


def test_a_class_keeps_its_head_its_init_and_the_accepted_methods_only() -> None:
    kept, any_kept = partial.kept_text(MODULE, lambda block: False,
                                       lambda part: "mx.mean(" in part)
    assert any_kept and kept.count("\n") == MODULE.count("\n")
    tree = ast.parse(kept)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    assert [f.name for f in cls.body if isinstance(f, ast.FunctionDef)] == ["__init__", "loss"]
    loss = cls.body[-1]
    assert MODULE.splitlines()[loss.lineno - 1].strip() == "def loss(self, x, y):"
    assert "scale = 2" in kept and "def helper" not in kept


def test_a_decorated_method_is_kept_or_blanked_with_its_decorator() -> None:
    kept, _ = partial.kept_text(MODULE, lambda block: False, lambda part: "return 4" in part)
    assert "@property\n    def size(self):" in kept and "def loss" not in kept
    ast.parse(kept)


def test_a_class_with_no_accepted_method_is_blank_and_not_wanted() -> None:
    kept, any_kept = partial.kept_text(MODULE, lambda block: False, lambda part: False)
    assert not any_kept and "class Net" not in kept and kept.count("\n") == MODULE.count("\n")


def test_a_block_wanted_whole_keeps_every_method() -> None:
    kept, _ = partial.kept_text(MODULE, lambda block: "class Net" in block,
                                lambda part: False)
    assert kept.startswith(MODULE[:MODULE.index("def helper")]) and "def helper" not in kept


@functools.cache
def scripts() -> tuple[Path, ...]:
    """Every corpus, catalogue and example script that Python parses (a corpus failure whose
    bug is a syntax error has no tree to compare)."""
    return tuple(p for folder in ("corpus", "scenarios", "examples")
                 for p in sorted((ROOT / folder).rglob("*.py"))
                 if not (p.parent / "UNSCORED").exists() and parses(p))


def parses(path: Path) -> bool:
    try:
        ast.parse(path.read_text())
    except SyntaxError:
        return False
    return True


@pytest.mark.parametrize("rule", IN_METHODS, ids=lambda r: r.id)
def test_rules_read_per_method_find_what_a_whole_parse_finds(rule) -> None:
    """Over every corpus, catalogue and example script the rule may fire in, with the
    engine's cut (only the rule's own wanted methods) against the whole file's tree."""
    texts = [(str(p), t) for p in scripts() if rule.may_fire(t := p.read_text())]
    assert texts and rule.local
    for path, text in texts:
        cut = engine.lint_source(text, path, select=[rule.id])
        whole = engine.check(index(path, text, ast.parse(text)), rules=[rule])
        assert cut == whole, path
