"""MLX230: a division by a range, `max(x) - min(x)`, in differentiated code, unguarded. A
group (or row) whose values are all equal has a range of exactly 0, so the division is 0/0 =
NaN: an affine quantizer's step `(w_max - w_min) / n_bins` on a zero-initialised weight, a
min-max normalisation of a constant row. The NaN reaches the loss at the first step and its
gradient poisons every parameter. Floor the range: `mx.maximum(w_max - w_min, 1e-7)`.

Measured (mlx 0.32.4 CPU, failure corpus fresh232 `ledger_tern_zeroinit_qat`, mlx PR 1028
"Fix quantization of all 0s"): a 4-bit QAT loop whose hand-ported group quantizer divided by
`(w_max - w_min) / n_bins` had loss NaN from step 1 to step 600 on a zero-initialised head;
flooring the step at 1e-7 trained to 0.80 validation accuracy.

Job: a `/` in code a gradient runs through whose divisor is, through names bound in the same
function, scalings (`/ n`, `* k`) and shape calls (`squeeze`, `reshape`, `expand_dims`), the
difference of a max and a min of the same array (`mx.max(x, axis)`, `x.max()`). A guard (`+
eps`, `mx.maximum`, `mx.clip`) on the way is no range any more.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import name_values
from ..source import SourceFile
from .base import DIFFERENTIATES, Rule, differentiates
from .differentiation import differentiated_nodes

SHAPES = frozenset({"squeeze", "reshape", "expand_dims"})
DEPTH = 5


class RangeDivisor(Rule):
    """MLX230: `x / (mx.max(w) - mx.min(w))` on the way to the loss, unguarded."""

    id = "MLX230"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return "max" in text and "min" in text and differentiates(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in differentiated_nodes(source):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and is_range(
                    source, node.right, source.enclosing(node), DEPTH):
                yield self.hit(source, node)


def is_range(source: SourceFile, node: ast.AST, scope: ast.AST | None, depth: int) -> bool:
    """`node` is, up to scalings and shape calls, `max(x) - min(x)` of one array."""
    if depth <= 0:
        return False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        low, high = extreme(source, node.right, scope, "min"), extreme(source, node.left,
                                                                        scope, "max")
        return low is not None and low == high
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mult)):
        return is_range(source, node.left, scope, depth - 1)
    if isinstance(node, ast.Call) and shape_call(node) is not None:
        return is_range(source, shape_call(node), scope, depth - 1)
    bound = binding(source, node, scope)
    return bound is not None and is_range(source, bound, scope, depth - 1)


def extreme(source: SourceFile, node: ast.AST, scope: ast.AST | None, kind: str) -> str | None:
    """The dumped array `x` of `mx.max(x, ...)` / `x.max(...)` (or a name bound to one)."""
    bound = binding(source, node, scope)
    node = bound if bound is not None else node
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if source.imports.resolve(func) in (f"mlx.core.{kind}", f"mlx.core.a{kind}") and node.args:
        return ast.dump(node.args[0])
    if isinstance(func, ast.Attribute) and func.attr == kind and not node.args[1:]:
        return ast.dump(func.value)
    return None


def shape_call(node: ast.Call) -> ast.AST | None:
    """`x` of `mx.squeeze(x, ...)` or `x.reshape(...)`."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr in SHAPES):
        return None
    return node.args[0] if isinstance(func.value, ast.Name) and func.value.id == "mx" and \
        node.args else func.value


def binding(source: SourceFile, node: ast.AST, scope: ast.AST | None) -> ast.AST | None:
    """The one value a name is bound to in `scope` (None for a name bound twice)."""
    if not isinstance(node, ast.Name) or scope is None:
        return None
    values = name_values(source, node.id, scope)
    return values[0] if len(values) == 1 else None
