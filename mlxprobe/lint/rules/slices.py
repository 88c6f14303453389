"""MLX040: a whole-array reduction with no axis (`mx.max(window)`, `x.mean()`) written into
a slice that keeps the batch axis whole (`out[:, i, j, :] = ...`): one scalar, the reduction
over every example (and channel), is broadcast into every row; the per-example values the
slice stands for are lost and nothing fails.

Job: find slice assignments whose first index is a bare `:` and whose value is a reduction
of a sliced or named array with no axis.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

# `[:, ...] = <something>.max(` on one line; the literal prefix keeps the search cheap.
WRITE = re.compile(r"\[:,[^\]\n]*\] = [\w.\[\]:, ]*(?:max|min|mean|sum|prod|logsumexp|var|std)\(")
REDUCTIONS = frozenset({"max", "min", "mean", "sum", "prod", "logsumexp", "var", "std"})


def whole_batch(target: ast.AST) -> bool:
    """`out[:, i, ...]`: a subscript of two or more indices whose first is a bare `:`."""
    if not isinstance(target, ast.Subscript) or not isinstance(target.slice, ast.Tuple):
        return False
    first = target.slice.elts[0] if target.slice.elts else None
    return len(target.slice.elts) > 1 and isinstance(first, ast.Slice) and not (
        first.lower or first.upper or first.step)


def full_reduction(source: SourceFile, node: ast.AST) -> bool:
    """`mx.max(x)` or `x.max()`: no axis, no keepdims, over an array read by name or slice."""
    if not isinstance(node, ast.Call) or node.keywords:
        return False
    resolved = source.imports.resolve(node.func) or ""
    if resolved.startswith("mlx.core.") and resolved[9:] in REDUCTIONS:
        return len(node.args) == 1 and isinstance(node.args[0], (ast.Name, ast.Subscript))
    return (isinstance(node.func, ast.Attribute) and node.func.attr in REDUCTIONS
            and not node.args and not resolved and isinstance(
                node.func.value, (ast.Name, ast.Subscript)))


class ReductionIntoBatchSlice(Rule):
    """MLX040: `pooled[:, i, j, :] = mx.max(window)`: the max of the whole batch, not of each
    example's window (a hand-written max-pool with the axis forgotten)."""

    id = "MLX040"
    anchors = ("[:,",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "[:," in text and WRITE.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            if len(node.targets) == 1 and whole_batch(node.targets[0]) and full_reduction(
                    source, node.value):
                yield self.hit(source, node.value)
