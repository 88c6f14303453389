"""MLX004: `for leaf in tree_flatten(tree)` that uses each `(path, array)` pair as an array.

Job: read how the loop target of a `tree_flatten` loop or comprehension is used; fire only
when it is used as an array and never as a pair.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Edit, Finding
from ..flow import body_nodes
from ..names import ARRAY, MLX_CORE, TREE_FLATTEN
from ..source import SourceFile
from .base import Rule

ARRAY_ATTRIBUTES = frozenset({"size", "shape", "dtype", "ndim", "nbytes", "astype", "sum",
                              "mean", "square", "reshape", "item", "flatten", "abs", "max",
                              "min", "T"})
ARRAY_OPS = (ast.Mult, ast.Pow, ast.Sub, ast.Div, ast.MatMult)


def use_of(source: SourceFile, name: ast.Name) -> str:
    """"pair", "array" or "" for one read of the loop target."""
    parent = source.parents.get(name)
    if isinstance(parent, ast.Subscript) and parent.value is name:
        return "pair"
    if isinstance(parent, (ast.Assign, ast.comprehension)) and isinstance(
            getattr(parent, "targets", [getattr(parent, "target", None)])[0], ast.Tuple):
        return "pair"
    if isinstance(parent, ast.Attribute) and parent.attr in ARRAY_ATTRIBUTES:
        return "array"
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ARRAY_OPS):
        return "array"
    if isinstance(parent, ast.Call) and name in parent.args:
        return array_call(source, parent)
    return ""


def array_call(source: SourceFile, call: ast.Call) -> str:
    """`isinstance(x, mx.array)` and `mx.<op>(x)` read `x` as an array."""
    if isinstance(call.func, ast.Name) and call.func.id == "isinstance" and len(call.args) == 2:
        return "array" if source.imports.resolve(call.args[1]) in ARRAY else ""
    resolved = source.imports.resolve(call.func) or ""
    return "array" if resolved.startswith(MLX_CORE + ".") else ""


def flattened_loops(source: SourceFile) -> Iterator[tuple[ast.AST, list[ast.AST]]]:
    """(loop or comprehension, the nodes its target is read in) for tree_flatten iterations."""
    for node in source.of_type(ast.For, ast.AsyncFor, ast.comprehension):
        if not (isinstance(node.iter, ast.Call) and isinstance(node.target, ast.Name)):
            continue
        if source.imports.resolve(node.iter.func) not in TREE_FLATTEN:
            continue
        if isinstance(node, ast.comprehension):
            scope = [n for n in ast.walk(source.parents[node]) if n is not node.iter]
        else:
            scope = body_nodes(source, node)
        yield node, scope


class TreeFlattenPairs(Rule):
    """MLX004: the pairs of `tree_flatten` used as arrays (`isinstance`, `.size`, `p * p`)."""

    id = "MLX004"

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for loop, scope in flattened_loops(source):
            name = loop.target.id
            reads = [n for n in scope if isinstance(n, ast.Name) and n.id == name
                     and isinstance(n.ctx, ast.Load)]
            uses = {use_of(source, n) for n in reads}
            if "array" in uses and "pair" not in uses:
                yield self.hit(source, loop.target, self._edit(loop, scope))

    def _edit(self, loop: ast.AST, scope: list[ast.AST]) -> Edit | None:
        """`for p in` -> `for _, p in`, unless `_` is already used there."""
        if any(isinstance(n, ast.Name) and n.id == "_" for n in scope):
            return None
        target = loop.target
        return Edit(target.lineno, target.col_offset, target.end_lineno,
                    target.end_col_offset, f"_, {target.id}")
