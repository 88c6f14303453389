"""MLX111: `mx.exp(a - b) * mask` with a triangular or comparison mask: the exponential is
taken everywhere, the masked-out entries included, and where a difference there passes ~88.7
(float32) it is `inf`, and `inf * 0` is NaN: the mask does not remove it. A chunkwise decay
matrix (`exp(cum[i] - cum[j])` for j <= i, zero above the diagonal: linear attention,
RetNet, Mamba's segment sums) is the usual place: as the learned gates grow the masked side's
differences grow with them, and the loss turns NaN after steps of training.

Measured (mlx 0.32.4 CPU): `mx.exp(mx.array([88., 89., 100.])) * mx.array([False] * 3)` gives
[0.0, nan, nan]; masking inside the exponent, `mx.exp(mx.where(mask, a - b, -inf))`, gives 0
there. Failure corpus fresh21 `decay_mask_exp_overflow` (mlx-forge's fix commit): the loss
fell for ~240 steps, then NaN for the rest of the run; the fixed twin stayed finite for 900.

Selecting instead of multiplying, `mx.where(mask, mx.exp(a - b), 0)`, keeps the forward
finite, but the exponential's VJP multiplies the masked side's zero gradient by its `inf`:
NaN again. Measured (failure corpus fresh38 `decay_mixer_masked_exp`, mlx-node's fix): the
step-0 loss 3.3232 as its twin's, the gate's gradient NaN, every loss after nan; masking the
difference before the exponential it fell 3.32 -> 0.0044.

Job: find a product of an `mx.exp` of a difference (written in place or bound to a name in
the function) and a mask, or an `mx.where` that selects such an exponential against 0 by a
mask: an `mx.tril`/`mx.triu` call, a comparison, or a name the function binds to one of
those (or to its `.astype(...)`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule
from .numerics import function_bindings

EXP = frozenset({"mlx.core.exp"})
WHERE = "mlx.core.where"
TRIANGLES = frozenset({"mlx.core.tril", "mlx.core.triu"})
# what a text holds whenever it builds such a mask (a spaced comparison, not `->`)
MASK_WORDS = ("tril(", "triu(", " < ", " > ", " <= ", " >= ", " == ")


def exp_of_difference(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> bool:
    """`mx.exp(a - b)`, or `mx.exp(d)` with `d = a - b` in the function."""
    if not (isinstance(node, ast.Call) and source.imports.resolve(node.func) in EXP
            and len(node.args) == 1):
        return False
    inner = node.args[0]
    if isinstance(inner, ast.Name) and inner.id in bound:
        inner = bound[inner.id]
    return isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub)


def zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0


def mask(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> bool:
    """A triangle (`mx.tril(...)`), a comparison, their `.astype(...)`, or a name bound to
    one of those in the function."""
    if isinstance(node, ast.Name) and node.id in bound:
        node = bound[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr == "astype":
        node = node.func.value
    return isinstance(node, ast.Compare) or (
        isinstance(node, ast.Call) and source.imports.resolve(node.func) in TRIANGLES)


class MaskedAfterExp(Rule):
    """MLX111: an exponential of a difference masked by multiplication: inf * 0 = NaN."""

    id = "MLX111"
    anchors = ("exp(",)
    local = True  # one product and the bindings of its function
    in_methods = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "exp(" in text and any(w in text for w in MASK_WORDS)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BinOp, ast.Call):
            bound = function_bindings(source, source.enclosing(node)) if isinstance(
                node, ast.Call) or isinstance(node.op, ast.Mult) else None
            if bound is not None and (self._product(source, node, bound)
                                      or self._selected(source, node, bound)):
                yield self.hit(source, node)

    @staticmethod
    def _product(source: SourceFile, node: ast.AST, bound: dict) -> bool:
        """`mx.exp(a - b) * mask`."""
        return isinstance(node, ast.BinOp) and any(
            exp_of_difference(source, e, bound) and mask(source, m, bound)
            for e, m in ((node.left, node.right), (node.right, node.left)))

    @staticmethod
    def _selected(source: SourceFile, node: ast.AST, bound: dict) -> bool:
        """`mx.where(mask, mx.exp(a - b), 0)`: finite forward, but the exponential's VJP
        multiplies the masked side's zero gradient by its inf: NaN."""
        if not (isinstance(node, ast.Call) and source.imports.resolve(node.func) == WHERE
                and len(node.args) == 3 and mask(source, node.args[0], bound)):
            return False
        kept, other = node.args[1], node.args[2]
        return (exp_of_difference(source, kept, bound) and zero(other)) or (
            exp_of_difference(source, other, bound) and zero(kept))
