"""MLX235: a `for` loop in a function that iterates a name its own target binds, where nothing
else binds that name in the function: `for k, v in v.items():`. The target makes the name
local to the whole function, so the iterable reads a local that was never bound and the loop
raises `UnboundLocalError: cannot access local variable 'v'` the first time it runs, which may
be long after training began (a branch taken only by some inputs).

Measured (mlx 0.32.4 CPU, failure corpus fresh240 `tramline_junction_heads`, mlx PR 819
"fix modules with dict"): `Module.parameters()`'s tree walker held `for k, v in v.items():` in
its dict branch; a model that took a plain dict of heads after a first stage crashed with
that UnboundLocalError at the first step of the second; `for k, v in value.items():` trained.

Job: per function, each `for` whose iterable reads (outside any comprehension or lambda of its
own) a name its target binds, the name being no parameter, not declared `global`/`nonlocal`,
and bound nowhere else in the function (no assignment, import, `def`, `with ... as` or
`except ... as` of it, before or after).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import between, body_nodes
from ..patterns import at_word
from ..source import SourceFile, descendants
from .base import Rule

# a `for` line whose iterable names one of its targets (the text test that spares parsing a
# file with no such line: nearly every file has a `for` and a `def`)
HEADER = at_word(r"\bfor\s+([\w\s,()]+?)\s+in\s+([^\n]+)")
WORD = re.compile(r"[A-Za-z_]\w*")
OWN_SCOPES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


class LoopTargetIterated(Rule):
    """MLX235: `for k, v in v.items():` with `v` bound nowhere else in the function."""

    id = "MLX235"
    anchors = ("for ",)
    local = True  # one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "def " in text and any(
            set(WORD.findall(m.group(1))) & set(WORD.findall(m.group(2)))
            for m in HEADER.finditer(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*DEFS):
            nodes = body_nodes(source, function)
            loops = [n for n in nodes if isinstance(n, (ast.For, ast.AsyncFor)) and shared(n)]
            if not loops:
                continue
            counts, fixed = bound_names(source, function, nodes)
            for loop in loops:
                read = iterated_own(source, loop, counts, fixed)
                if read is not None:
                    yield self.hit(source, read)


def shared(loop: ast.For | ast.AsyncFor) -> bool:
    """The loop's iterable reads a name its target binds: the only loops `iterated_own` can
    report, found before counting the function's bindings (most functions have none)."""
    def names(node: ast.AST) -> set[str]:
        return {n.id for n in descendants(node) if isinstance(n, ast.Name)}
    return bool(names(loop.target) & names(loop.iter))


def iterated_own(source: SourceFile, loop: ast.For | ast.AsyncFor, counts: dict[str, int],
                 fixed: set[str]) -> ast.Name | None:
    """The first name the loop's iterable reads that its target binds, when the target is
    that name's only binding in the function (`counts`: each name's assignments; `fixed`:
    the names bound otherwise, which no loop can be the only binding of)."""
    targets = [n for n in descendants(loop.target) if isinstance(n, ast.Name)]
    names = {n.id for n in targets} - fixed
    for node in descendants(loop.iter):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in names \
                and not between(source, node, loop, OWN_SCOPES) \
                and counts.get(node.id, 0) == sum(t.id == node.id for t in targets):
            return node
    return None


def bound_names(source: SourceFile, function: ast.AST,
                nodes: list[ast.AST]) -> tuple[dict[str, int], set[str]]:
    """How many times the function assigns each name, and the names it binds otherwise
    (parameters, `global`/`nonlocal`, imports, nested `def`/`class`, `except ... as`)."""
    counts: dict[str, int] = {}
    args = function.args
    fixed = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs,
                             *filter(None, (args.vararg, args.kwarg)))}
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) \
                and not between(source, node, function, OWN_SCOPES):
            counts[node.id] = counts.get(node.id, 0) + 1
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            fixed.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            fixed.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (*DEFS, ast.ClassDef)) and node is not function:
            fixed.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            fixed.add(node.name)
    return counts, fixed
