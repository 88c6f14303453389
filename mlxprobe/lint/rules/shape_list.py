"""MLX184: an array's shape (a tuple) joined with a list by `+` (`x.shape + [1]`,
`x.shape[:axis] + [1] + x.shape[axis:]`): Python does not add a list to a tuple, so the line
raises TypeError the first time it runs. MLX returned shapes as lists in its early releases;
code written then, and code ported from them, still joins them with lists.

Measured (mlx 0.32.4 CPU, failure corpus fresh140 `canal_lock_mamba`, mamba.py 9f04ef2 "new
python tuple fix"): a Mamba-style LM whose `unsqueeze` helper built `x.shape + [1]` died in
its first forward pass with `TypeError: can only concatenate tuple (not "list") to tuple`;
`x.shape + (1,)` trains (loss 2.31 -> 1.05).

Job: a `+` with a `.shape` (or a slice of one) on one side and a list display, list
comprehension or `list(...)` on the other. `list(x.shape) + [1]` and `(*x.shape, 1)` are
right and left alone. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule


def shape_tuple(node: ast.AST) -> bool:
    """`x.shape` or `x.shape[a:b]` (a slice of a tuple is a tuple)."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        node = node.value
    return isinstance(node, ast.Attribute) and node.attr == "shape"


def a_list(node: ast.AST) -> bool:
    """A list display, a list comprehension or a `list(...)` call."""
    if isinstance(node, (ast.List, ast.ListComp)):
        return True
    return isinstance(node, ast.Call) and getattr(node.func, "id", "") == "list"


class ShapePlusList(Rule):
    """MLX184: `x.shape + [1]`."""

    id = "MLX184"
    anchors = (".shape",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".shape" in text and "+" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BinOp):
            if isinstance(node.op, ast.Add) and self._joins(node):
                yield self.hit(source, node)

    @staticmethod
    def _joins(node: ast.BinOp) -> bool:
        """A shape and a list as the two operands, in either order (`[1] + x.shape` raises
        too); in a chain the innermost `+` that meets them is the one found."""
        pair = (node.left, node.right)
        return any(shape_tuple(a) and a_list(b) for a, b in (pair, pair[::-1]))
