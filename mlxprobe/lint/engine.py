"""Run the rules over one module's text: parse, check, select, drop silenced findings.

Job: the one entry point the CLI, the flake8 plugin and the tests share.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
import sys
from collections.abc import Iterable, Iterator

from .. import syntax
from . import anchors
from .finding import Finding
from .partial import parse_blocks
from .rules import ALL, Rule
from .source import SourceFile, index
from .suppression import is_silenced

# The cyclic collector's first-generation threshold while many files are linted (Python's
# default is 700 allocations): each parse makes tens of thousands of AST nodes, none of them in
# a cycle that outlives its file, and the collections those allocations set off cost 5-8% of
# linting mlx-lm, mlx-lm-lora and mlx-vlm (4.67-4.90 s against 4.51-4.54 s, best of 3, this
# 2-core machine, interleaved).
MANY_FILES_GEN0 = 100_000


@contextlib.contextmanager
def many_files() -> Iterator[None]:
    """Lint a batch of files with the collector's first generation raised; the thresholds
    are put back after (the CLI and the benchmark wrap their loops in it)."""
    saved = gc.get_threshold()
    gc.set_threshold(MANY_FILES_GEN0, *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def enabled(rule: str, select: Iterable[str] | None, ignore: Iterable[str] | None) -> bool:
    """flake8's semantics: ids or prefixes; `ignore` wins over `select`."""
    if ignore and any(rule.startswith(p) for p in ignore):
        return False
    return not select or any(rule.startswith(p) for p in select)


def chosen(select: Iterable[str] | None, ignore: Iterable[str] | None,
           text: str | None = None) -> list[type[Rule]]:
    """The enabled rules, and of those, when `text` is given, the ones that can fire in it:
    one pass finds which rules' anchors the text holds, then the rest run `may_fire` (but
    a rule whose `may_fire` is that anchors' test: 0.1 s of the three packages for MLX274's
    80 layer names)."""
    rules = [r for r in ALL if enabled(r.id, select, ignore)]
    if text is None:
        return rules
    found = anchors.present(text, anchor_words(tuple(rules)))
    return [r for r in rules if (not r.anchors or not found.isdisjoint(r.anchors))
            and (r.anchored or r.may_fire(text))]


@functools.cache
def anchor_words(rules: tuple[type[Rule], ...]) -> frozenset[str]:
    return frozenset(a for r in rules for a in r.anchors)


def check(source: SourceFile, select: Iterable[str] | None = None,
          ignore: Iterable[str] | None = None,
          rules: list[type[Rule]] | None = None) -> list[Finding]:
    """Every enabled rule's findings on a parsed module, silenced ones dropped, sorted.
    A module that imports nothing from MLX gets no findings: the rules are about MLX's
    semantics (lazy arrays, its Conv1d layout), and the same code with PyTorch is not a bug."""
    if not source.imports.uses_mlx():
        return []
    lines = source.lines
    found = {f for rule in (chosen(select, ignore) if rules is None else rules)
             for f in guarded(rule, source)}
    return sorted((f for f in found if not is_silenced(f, lines)), key=Finding.sort_key)


def guarded(rule: type[Rule], source: SourceFile) -> list[Finding]:
    """One rule's findings; a rule that fails on a program (our bug, never the user's) gives
    none there and says so in one line on stderr, so the other rules still report (fresh45
    `vqvae_waveform_codebook`: MLX105 read a lambda's body as statements and stopped lint and
    `watch`'s report)."""
    try:
        return list(rule().check(source))
    except Exception as error:  # noqa: BLE001 - any rule's bug, reported and contained
        print(f"mlxprobe lint: internal error in {rule.id} on {source.path}: "
              f"{type(error).__name__}: {error} (please report it)", file=sys.stderr)
        return []


def lint_source(text: str, path: str = "<stdin>", select: Iterable[str] | None = None,
                ignore: Iterable[str] | None = None) -> list[Finding]:
    """Findings for one module's text; raises SyntaxError or ValueError if it cannot parse.
    Only what can hold a finding is parsed (`partial`): a file with no `mlx` in it, or in
    which no rule's text test passes, is not parsed at all, so its syntax is not checked."""
    rules = chosen(select, ignore, text) if "mlx" in text else []
    if not rules:
        return []
    wanted = [r.wanted(text) for r in rules]
    if all(w is not None for w in wanted):
        whole = [w for r, w in zip(rules, wanted) if not r.in_methods]
        parts = [w for r, w in zip(rules, wanted) if r.in_methods]
        tree = parse_blocks(text, path, lambda block: any(w(block) for w in whole),
                            lambda part: any(w(part) for w in parts))
    else:
        tree = syntax.parse(text, filename=path)
    return [] if tree is None else check(index(path, text, tree), rules=rules)


def lint_tree(tree: ast.Module, text: str, path: str) -> list[Finding]:
    """Findings for a tree someone else parsed (flake8 hands one over)."""
    return check(index(path, text, tree)) if "mlx" in text else []
