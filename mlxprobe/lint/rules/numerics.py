"""Rules about numerics a loss can lose to float32, stated on local dataflow: MLX022 (the log
of a probability from sigmoid or softmax: -inf, then NaN gradients, once it saturates).

Job: find losses that go non-finite on confident predictions while a fused form would not.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import contexts
from ..finding import Finding
from ..flow import assignments, body_nodes
from ..source import SourceFile
from .base import Rule

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
