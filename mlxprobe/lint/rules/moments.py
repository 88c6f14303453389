"""MLX043: a variance computed by moments, `mean(x * x) - mean(x) ** 2`.

Job: find the one-pass variance formula on arrays, through local names. In float32 the two
terms agree to every digit when the values sit on an offset large against their spread
(pressure in hPa, pixel sums, logits late in training): the difference cancels to 0 or goes
negative, and sqrt of it is NaN (mlx#1302, the same formula inside an old mx.std). Moments
of data first shifted by a reference value (`d = x - x[:1]`) are the standard remedy and
are left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule
from .numerics import MEAN, function_bindings, self_product, subject

DEPTH = 2


def resolved(node: ast.AST, bound: dict[str, ast.AST], depth: int = DEPTH) -> ast.AST:
    """The expression a local name stands for (a few bindings deep)."""
    while isinstance(node, ast.Name) and depth and node.id in bound:
        node, depth = bound[node.id], depth - 1
    return node


def square_of(node: ast.AST) -> ast.AST | None:
    """y of `y * y`, `y ** 2` or `mx.square(y)` / `y.square()`; None otherwise."""
    if self_product(node):
        return node.left
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(
            node.right, ast.Constant) and node.right.value == 2:
        return node.left
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
            node.func.attr == "square"):
        return node.args[0] if node.args else node.func.value
    return None


def mean_of(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> ast.AST | None:
    """x of `mx.mean(x, ...)` or `x.mean(...)` (through local names)."""
    node = resolved(node, bound)
    return subject(source, node, MEAN, "mean") if isinstance(node, ast.Call) else None


def mean_square_of(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> str | None:
    """The text of x in `mean(x * x)`; None when `node` is not a mean of a square."""
    averaged = mean_of(source, node, bound)
    inner = square_of(averaged) if averaged is not None else None
    return ast.unparse(inner) if inner is not None else None


def squared_mean_of(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> \
        str | None:
    """The text of x in `mean(x) ** 2` / `m * m` with `m = mean(x)`; None otherwise."""
    inner = square_of(resolved(node, bound))
    averaged = mean_of(source, inner, bound) if inner is not None else None
    return ast.unparse(averaged) if averaged is not None else None


class VarianceByMoments(Rule):
    """MLX043: `E[x^2] - E[x]^2` on arrays: catastrophic cancellation, a negative variance."""

    id = "MLX043"
    anchors = ("mean(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return " - " in text and text.count("mean(") > 1  # the two moments are two means

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BinOp):
            if not isinstance(node.op, ast.Sub):
                continue
            bound = function_bindings(source, source.enclosing(node))
            first = mean_square_of(source, node.left, bound)
            if (first is not None and first == squared_mean_of(source, node.right, bound)
                    and not shifted(first, bound)):
                yield self.hit(source, node)


def shifted(name: str, bound: dict[str, ast.AST]) -> bool:
    """The moments are taken of data already shifted by a reference (`d = x - x[:1]`): the
    shifted-data algorithm, whose values sit near 0, so the two terms do not cancel."""
    value = bound.get(name)
    return isinstance(value, ast.BinOp) and isinstance(value.op, ast.Sub)
