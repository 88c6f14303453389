"""MLX115: PyTorch's `torch.autograd.grad(loss, params)` spelled with MLX: `mx.grad(loss,
model.trainable_parameters())` or `mx.value_and_grad(loss, params)`. MLX's transformations
take the function to differentiate (and `argnums`), never a loss already computed: the call
raises at once, and a step wrapped in `try/except` swallows it at every step.

Measured (mlx 0.32.4 CPU): `mx.grad(loss, model.trainable_parameters())` with `loss` an array
raises `TypeError: grad(): incompatible function arguments`, as does `mx.grad(loss)`. Failure
corpus fresh23 `update_op_grad_of_array` (a FastEstimator-style UpdateOp ported from PyTorch;
the fix builds a loss function and calls `nn.value_and_grad(model, loss_fn)(model)`).

Job: find `mx.grad`/`mx.value_and_grad` given, first, a name this function binds to an array
or an expression that is one, or, second, a parameter tree (`.parameters()`,
`.trainable_parameters()`, a dict) where `argnums` goes.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import arrays_in, is_array
from ..finding import Finding
from ..source import SourceFile
from .base import Rule

TRANSFORMS = frozenset({"mlx.core.grad", "mlx.core.value_and_grad"})
TREES = frozenset({"parameters", "trainable_parameters"})


def parameter_tree(node: ast.AST) -> bool:
    """`model.parameters()`, `model.trainable_parameters()`, a dict display."""
    return isinstance(node, (ast.Dict, ast.DictComp)) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in TREES)


class GradOfAnArray(Rule):
    """MLX115: `mx.grad(loss, params)`: a transformation handed the loss, not a function."""

    id = "MLX115"
    anchors = ("grad(",)
    local = True  # reads one call and the function around it

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if call.args and source.imports.resolve(call.func) in TRANSFORMS and (
                    self._array(source, call) or (
                        len(call.args) > 1 and parameter_tree(call.args[1]))):
                yield self.hit(source, call)

    @staticmethod
    def _array(source: SourceFile, call: ast.Call) -> bool:
        scope = source.enclosing(call) or source.tree
        return is_array(source, call.args[0], arrays_in(source, scope))
