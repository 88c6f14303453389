"""MLX172: inside a differentiated function, a NumPy array on the left of arithmetic with an
MLX array (`(norm_t - out_prob)` after `norm_t = np.asarray(norm_t)`): NumPy's operator runs
first and converts the MLX array to NumPy, so the result is a NumPy array computed from the
values, a constant to autodiff; every term built from it reaches the loss with no gradient
(or the loss itself is NumPy and the transformation raises).

Measured (mlx 0.32.4 CPU, failure corpus fresh65 `stable_focal_numpy_detach`,
DINO_DETR_MLX commit 8606712): a Stable-DINO focal loss detaching its quality target with
`np.asarray` instead of `mx.stop_gradient` turned its whole positive term into a constant:
the classification loss rose 0.16 -> 0.88 over 20 epochs and recall stayed 0.000; with
`mx.stop_gradient` it trains. `np.ones(3) * mx.ones(3)` is a `numpy.ndarray` here.

Job: in each function run under `mx.grad`/`value_and_grad` (and the helpers it calls), a
`+ - * / ** @` whose left operand is a NumPy array (a `numpy` call, or a name whose binding
before the line is one; a sign in front counts) and whose right operand is an MLX array.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import ARRAY_OPS, arrays_in, is_array, under
from ..finding import Finding
from ..source import SourceFile
from .base import Rule
from .stopping import Trace


def numpy_value(source: SourceFile, trace: Trace, node: ast.AST) -> bool:
    """A NumPy array: a `numpy.*` call, or a name bound to one before this line."""
    if isinstance(node, ast.UnaryOp):
        return numpy_value(source, trace, node.operand)
    if isinstance(node, ast.Name):
        node = trace.binding(node.id, node.lineno)
    return isinstance(node, ast.Call) and (source.imports.resolve(node.func) or "").startswith(
        "numpy.")


class NumpyLeftOperand(Rule):
    """MLX172: `norm_t = np.asarray(norm_t); (norm_t - out_prob) ** gamma` in a loss."""

    id = "MLX172"
    anchors = ("np.",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and ("np.asarray(" in text or "np.array(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        seen: set[ast.AST] = set()
        for _, nodes in under(source, "grad"):
            for node in nodes:
                if node in seen or not isinstance(node, ast.BinOp) or not isinstance(
                        node.op, ARRAY_OPS):
                    continue
                seen.add(node)
                function = source.enclosing(node)
                if function is None:
                    continue
                trace = source.cached("trace", function, lambda f=function: Trace(source, f))
                if numpy_value(source, trace, node.left) and is_array(
                        source, node.right, arrays_in(source, function)):
                    yield self.hit(source, node)
