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

Job: find a product of an `mx.exp` of a difference and a mask: an `mx.tril`/`mx.triu` call,
a comparison, or a name the function binds to one of those (or to its `.astype(...)`).

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
TRIANGLES = frozenset({"mlx.core.tril", "mlx.core.triu"})
# what a text holds whenever it builds such a mask (a spaced comparison, not `->`)
MASK_WORDS = ("tril(", "triu(", " < ", " > ", " <= ", " >= ", " == ")


def exp_of_difference(source: SourceFile, node: ast.AST) -> bool:
    """`mx.exp(a - b)`."""
    return isinstance(node, ast.Call) and source.imports.resolve(node.func) in EXP \
        and len(node.args) == 1 and isinstance(node.args[0], ast.BinOp) \
        and isinstance(node.args[0].op, ast.Sub)


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
        for node in source.of_type(ast.BinOp):
            if not isinstance(node.op, ast.Mult):
                continue
            bound = function_bindings(source, source.enclosing(node))
            for exp, other in ((node.left, node.right), (node.right, node.left)):
                if exp_of_difference(source, exp) and mask(source, other, bound):
                    yield self.hit(source, node)
                    break
