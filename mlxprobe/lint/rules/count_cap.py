"""MLX169: an integer count capped at one where a floor of one was meant: `n = min(1, n)`
after `n = int(share * total)` (or a `len(...)`, a `//`, a `round(...)`): `min` keeps a 0
and turns every larger count into 1, so a derived number of batches, steps or rows that
should never be 0 is 0 or 1 afterwards; `max(1, n)` is the floor.

Measured (mlx 0.32.4 CPU, failure corpus fresh58 `val_batches_floor`, mlx-tuning-fork commit
a1367e5): validation batches derived as `int(0.01 * 0.25 * 120)` = 0 and "at least one"
written `min(1, n)`: the validation pass ran zero batches and printed a loss of nan (0/0)
at every report while training fell 2.61 -> 0.069; with `max(1, n)` it read 3.33 -> 0.073.

Job: a `min(...)` of the constant 1 and an integer count: an `int(...)`, `len(...)` or
`round(...)` call, a floor division, or a name whose binding before it in the same scope is
one of those. A fraction clamped to at most 1 (`min(1, it / warmup)`, `min(1.0, clip /
norm)`) is not a count.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule
from .stopping import Trace

COUNTING = frozenset({"int", "len", "round"})
CAPPED = re.compile(r"min\(\s*1\s*,|min\([^()\n]*,\s*1\s*\)")


def counts(node: ast.AST) -> bool:
    """An integer count: `int(...)`, `len(...)`, `round(x)`, or `a // b`."""
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, ast.FloorDiv)
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in COUNTING and not (node.func.id == "round" and len(node.args) > 1))


def capped(node: ast.Call) -> ast.AST | None:
    """The other argument of `min(1, x)` / `min(x, 1)`, else None."""
    if not (isinstance(node.func, ast.Name) and node.func.id == "min" and len(node.args) == 2
            and not node.keywords):
        return None
    one = [a for a in node.args if isinstance(a, ast.Constant) and type(a.value) is int
           and a.value == 1]
    return next((a for a in node.args if a not in one), None) if one else None


class CountCappedAtOne(Rule):
    """MLX169: `n = int(p * total); n = min(1, n)` (meant: `max(1, n)`)."""

    id = "MLX169"
    anchors = ("min(",)
    local = True  # one scope's bindings

    @staticmethod
    def may_fire(text: str) -> bool:
        """`min(1, ...` or `min(..., 1)` at some `min(` (found by `str.find`: a regex led by
        a word boundary scans every character of the file)."""
        at = text.find("min(")
        while at != -1:
            if CAPPED.match(text, at):
                return True
            at = text.find("min(", at + 4)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            other = capped(call)
            if other is not None and (counts(other) or self._bound_count(source, call, other)):
                yield self.hit(source, call)

    @staticmethod
    def _bound_count(source: SourceFile, call: ast.Call, other: ast.AST) -> bool:
        """`other` is a name whose last binding before `call` in its scope is a count."""
        if not isinstance(other, ast.Name):
            return False
        value = Trace(source, source.enclosing(call) or source.tree).binding(other.id,
                                                                            call.lineno)
        return value is not None and counts(value)
