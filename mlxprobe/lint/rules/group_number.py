"""MLX163: the group `mx.distributed.init()` returns, used as a number (`N =
mx.distributed.init()`, then `all_sum(g) / N` or `if N == 1`): a Group is not its size, so
the division raises "Cannot perform division on an mlx.core.array and
mlx.core.distributed.Group" (in a single process too: a comparison with 1 is False), and
the count of processes is `group.size()`.

Measured (mlx 0.32.4 CPU, failure corpus fresh55 `dp_allreduce_group_as_count`, mlx PR 1731
fixed the distributed docs' `all_reduce_grads`): the first step raised that ValueError;
`mx.distributed.init().size()` trains.

Job: a name bound (in a function, or at the module's top level for a function that does not
bind it) only to `mx.distributed.init(...)`, read as an operand of arithmetic or compared
with a number. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, body_nodes, bound_only
from ..source import FUNCTIONS, SourceFile
from .base import Rule

INIT = frozenset({"mlx.core.distributed.init"})
BOUND_GROUP = re.compile(r"\s*(\w+) = (?:mx\.)?distributed\.init\([^)\n]*\)\s*(?:#.*)?$")
ARITHMETIC = (ast.Div, ast.FloorDiv, ast.Mult, ast.Add, ast.Sub, ast.Mod)


def groups(source: SourceFile, scope: ast.AST) -> set[str]:
    """Names the scope binds only to `mx.distributed.init(...)`."""
    return bound_only(body_assignments(source, scope), lambda value: isinstance(
        value, ast.Call) and source.imports.resolve(value.func) in INIT)


def used_as_number(node: ast.AST, names: set[str]) -> ast.AST | None:
    """The group name `node` reads as a number: an operand of arithmetic, or compared with a
    numeric constant."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC):
        return next((s for s in (node.left, node.right)
                     if isinstance(s, ast.Name) and s.id in names), None)
    if isinstance(node, ast.Compare) and len(node.comparators) == 1:
        sides = (node.left, node.comparators[0])
        numeric = any(isinstance(s, ast.Constant) and type(s.value) in (int, float)
                      for s in sides)
        return next((s for s in sides if numeric and isinstance(s, ast.Name)
                     and s.id in names), None)
    return None


class GroupAsNumber(Rule):
    """MLX163: `N = mx.distributed.init()`, then `x / N` or `N == 1`."""

    id = "MLX163"
    anchors = ("distributed",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A name bound to a bare `distributed.init(...)` and then divided by, multiplied,
        added or compared (a text test: trainers bind the group and call `.size()`)."""
        names = set()
        at = text.find("distributed.init(")
        while at >= 0:
            start, end = text.rfind("\n", 0, at) + 1, text.find("\n", at)
            found = BOUND_GROUP.match(text[start:end if end >= 0 else len(text)])
            if found is not None:
                names.add(found.group(1))
            at = text.find("distributed.init(", at + 17)
        return any(re.search(rf"[/*+-] {name}\b|\b{name} [=!<>]=", text) for name in names)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        top = groups(source, source.tree)
        for scope in [source.tree, *source.of_type(*FUNCTIONS)]:
            names = groups(source, scope)
            if scope is not source.tree:
                bound = {t.id for t, _ in body_assignments(source, scope)
                         if isinstance(t, ast.Name)}
                names |= top - bound
            for node in (body_nodes(source, scope) if names else ()):
                found = used_as_number(node, names)
                if found is not None:
                    yield self.hit(source, found)
