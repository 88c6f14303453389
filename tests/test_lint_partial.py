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
from mlxprobe.lint.source import SourceFile, index

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


SHARDS = 8  # the scripts split in strides, so pytest-xdist's workers share them


@functools.cache
def scripts() -> tuple[Path, ...]:
    """Every corpus, catalogue and example script of a scored half."""
    return tuple(p for folder in ("corpus", "scenarios", "examples")
                 for p in sorted((ROOT / folder).rglob("*.py"))
                 if not (p.parent / "UNSCORED").exists())


@pytest.mark.parametrize("rule", IN_METHODS, ids=lambda r: r.id)
def test_a_rule_read_per_method_is_local_and_may_fire_in_the_scripts(rule) -> None:
    assert rule.local and any(rule.may_fire(p.read_text()) for p in scripts())


@pytest.mark.parametrize("shard", range(SHARDS))
def test_rules_read_per_method_find_what_a_whole_parse_finds(shard: int) -> None:
    """Over every corpus, catalogue and example script, each rule read per method that may
    fire there, with the engine's cut (only the rule's own wanted methods) against the whole
    file's tree (each file parsed whole once, stop 72: a parse per rule cost ~40 s)."""
    compared = 0
    for path in scripts()[shard::SHARDS]:
        text = path.read_text()
        rules = [rule for rule in IN_METHODS if rule.may_fire(text)]
        whole = rules and parsed(str(path), text)
        for rule in rules if whole else ():
            cut = engine.lint_source(text, str(path), select=[rule.id])
            assert cut == engine.check(whole, rules=[rule]), (rule.id, path)
            compared += 1
    assert compared > 100


def parsed(path: str, text: str) -> SourceFile | None:
    """The file's whole index, or None for a corpus failure whose bug is a syntax error (no
    tree to compare)."""
    try:
        return index(path, text, ast.parse(text))
    except SyntaxError:
        return None
