"""MLX128: in differentiated code, a hand-written softplus `log(1 + exp(z))` (or
`log1p(exp(z))`) whose `z` is not bounded: float32 `exp` overflows to inf above ~88.7, the
value is inf and its gradient `exp(z) / (1 + exp(z))` is inf / inf = NaN.

Job: match the log of one plus an exp (either order of the sum) and the log1p of an exp in
code a gradient runs through, and follow the exponent through the function's local names
(`overflow.bounded`); a clipped or max-bounded exponent is safe. Measured (mlx 0.32.4 CPU):
at z = 100 `mx.log(1 + mx.exp(z))` is inf and its gradient NaN; `nn.softplus` gives a
gradient of 1 and `mx.logaddexp(0, z)` the value 100. Failure corpus fresh28
`sac_tanh_logprob_overflow` (mlx-baselines3's SAC): the tanh-squash correction
`2 * (log 2 - u - log(1 + exp(-2u)))` overflowed for u < -44, the actor loss inf at step 1,
NaN after, every parameter NaN.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import DIFFERENTIATES, Rule, differentiates
from .differentiation import differentiated_nodes
from .overflow import bounded, is_exp, one
from .stopping import Trace

LOG, LOG1P = "mlx.core.log", "mlx.core.log1p"


class HandWrittenSoftplus(Rule):
    """MLX128: `mx.log(1 + mx.exp(z))` with `z` unbounded, in code a gradient runs through."""

    id = "MLX128"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return "exp(" in text and "log" in text and differentiates(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in differentiated_nodes(source):
            if not _log_shaped(source, node):
                continue
            function = source.enclosing(node)
            if function is None or isinstance(function, ast.Lambda):
                continue
            trace = Trace(source, function)
            exp = self._softplus_exp(source, trace, node)
            if exp is not None and not bounded(trace, exp):
                yield self.hit(source, node)

    @staticmethod
    def _softplus_exp(source: SourceFile, trace: Trace, node: ast.Call) -> ast.Call | None:
        """The exp of `log(1 + exp(z))`, `log(e + 1)` with `e = exp(z)` or `log1p(exp(z))`,
        else None (`node` is `_log_shaped`)."""
        name, arg = source.imports.resolve(node.func), node.args[0]
        if name == LOG1P:
            return _exp_of(source, trace, arg, node.lineno)
        assert isinstance(arg, ast.BinOp)  # `_log_shaped`
        for a, b in ((arg.left, arg.right), (arg.right, arg.left)):
            exp = _exp_of(source, trace, b, node.lineno) if one(a) else None
            if exp is not None:
                return exp
        return None

def _log_shaped(source: SourceFile, node: ast.AST) -> bool:
    """A one-argument call of `mx.log1p`, or of `mx.log` on a sum (cheap: before any trace)."""
    if not isinstance(node, ast.Call) or len(node.args) != 1:
        return False
    name = source.imports.resolve(node.func)
    return name == LOG1P or (name == LOG and isinstance(node.args[0], ast.BinOp)
                             and isinstance(node.args[0].op, ast.Add))


def _exp_of(source: SourceFile, trace: Trace, node: ast.AST, line: int) -> ast.Call | None:
    """`node` when it is an exp, or the exp a local name `node` is bound to; else None."""
    if isinstance(node, ast.Name):
        node = trace.binding(node.id, line)
    return node if node is not None and is_exp(source, node) else None
