"""Rules about numerics a loss can lose to its dtype, stated on local dataflow: MLX022 (the log
of a probability from sigmoid or softmax: -inf, then NaN gradients, once it saturates),
MLX025 (parameters trained in float16, whose range ends at 65504).

Job: find losses that go non-finite on confident predictions while a fused form would not.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import contexts
from ..finding import Finding
from ..flow import assignments, body_nodes
from ..names import last_name
from ..source import SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update

LOGS = frozenset({"mlx.core.log", "mlx.core.log2", "mlx.core.log10"})
SIGMOID = frozenset({"mlx.core.sigmoid", "mlx.nn.sigmoid"})
SOFTMAX = frozenset({"mlx.core.softmax", "mlx.nn.softmax"})
DEPTH = 2


class LogOfProbability(Rule):
    """MLX022: `mx.log(p)` or `mx.log(1 - p)` with `p = mx.sigmoid(z)` (or a softmax, in a
    loss): p rounds to exactly 0 or 1 in float32 and the log is -inf."""

    id = "MLX022"
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "log(" in text and ("sigmoid(" in text or "softmax(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in LOGS or not call.args:
                continue
            function = source.enclosing(call)
            kinds = SIGMOID | (SOFTMAX if self._in_loss(source, function) else frozenset())
            values = self._values(source, function)
            if self._probability(source, call.args[0], values, kinds, DEPTH):
                yield self.hit(source, call)

    def _in_loss(self, source: SourceFile, function: ast.AST | None) -> bool:
        return function is not None and ("loss" in function.name.lower()
                                         or "grad" in contexts(source).get(function, ()))

    def _values(self, source: SourceFile, function: ast.AST | None) -> dict[str, list]:
        values: dict[str, list] = {}
        for target, value in assignments(body_nodes(source, function) if function else []):
            if isinstance(target, ast.Name):
                values.setdefault(target.id, []).append(value)
        return values

    def _probability(self, source: SourceFile, node: ast.AST, values: dict[str, list],
                     kinds: frozenset[str], depth: int) -> bool:
        """`node` is p or `c - p` for p a sigmoid/softmax output (through local names)."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(
                node.left, ast.Constant):
            node = node.right
        if isinstance(node, ast.Call):
            return source.imports.resolve(node.func) in kinds
        if isinstance(node, ast.Name) and depth and len(values.get(node.id, [])) == 1:
            return self._probability(source, values[node.id][0], values, kinds, depth - 1)
        return False


FLOAT16 = "mlx.core.float16"


def module_constants(source: SourceFile) -> dict[str, ast.AST]:
    """Module-level `NAME = value` bindings (the last one wins)."""
    return {t.id: v for t, v in assignments(source.tree.body) if isinstance(t, ast.Name)}


class HalfPrecisionTraining(Rule):
    """MLX025: `model.set_dtype(mx.float16)` (directly or through a module constant) in a
    module that updates parameters with an optimizer: float16 (max 65504) with no loss
    scaling, where bfloat16 keeps float32's range."""

    id = "MLX025"

    @staticmethod
    def may_fire(text: str) -> bool:
        return "float16" in text and "set_dtype(" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not any(is_optimizer_update(source, c) for c in source.of_type(ast.Call)):
            return
        constants = module_constants(source)
        for call in source.of_type(ast.Call):
            if last_name(call.func) != "set_dtype" or len(call.args) != 1:
                continue
            dtype = call.args[0]
            if isinstance(dtype, ast.Name) and dtype.id in constants:
                dtype = constants[dtype.id]
            if source.imports.resolve(dtype) == FLOAT16:
                yield self.hit(source, call)
