"""MLX062: in differentiated code, a hand-written sigmoid `1 / (1 + exp(-x))`, or a softmax
`exp(z) / sum(exp(z))` (a sum, or a scatter-sum per segment) whose `z` is not shifted by its
maximum: float32 `exp` overflows to inf above ~88.7, and inf / inf is NaN (for the sigmoid,
in the gradient).

Job: match the two divisions and follow the exp and its denominator through the function's
local names; a `z` minus a max (or a logsumexp), or a clipped `z`, is safe.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import returns_of
from ..finding import Finding
from ..flow import helper_of
from ..names import last_name
from ..source import SourceFile, descendants
from .base import DIFFERENTIATES, Rule, differentiates
from .differentiation import differentiated_nodes
from .stopping import Trace

EXP = "mlx.core.exp"
SUMS = frozenset({"sum", "add"})  # `e.sum(...)`, `mx.sum(e)`, `zeros.at[seg].add(e)`
BOUNDS = frozenset({"max", "amax", "maximum", "logsumexp", "clip", "minimum"})
DEPTH = 4


def is_exp(source: SourceFile, node: ast.AST) -> bool:
    """`mx.exp(z)` or `z.exp()`."""
    return isinstance(node, ast.Call) and (source.imports.resolve(node.func) == EXP or (
        isinstance(node.func, ast.Attribute) and node.func.attr == "exp" and not node.args
        and source.imports.resolve(node.func) is None))


def exponent(node: ast.Call) -> ast.AST:
    return node.args[0] if node.args else node.func.value


def one(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == 1


def expanded(trace: Trace, node: ast.AST, line: int) -> list[ast.AST]:
    """The nodes of `node` and of the bindings of the names it reads (a few levels)."""
    found, todo, seen = [], [(node, line, 0)], set()
    while todo:
        current, at, depth = todo.pop()
        for sub in descendants(current):
            found.append(sub)
            if isinstance(sub, ast.Name) and (sub.id, at) not in seen and depth < DEPTH:
                seen.add((sub.id, at))
                value = trace.binding(sub.id, at)
                if value is not None:
                    todo.append((value, value.lineno, depth + 1))
    return found


class UnstableSigmoidSoftmax(Rule):
    """MLX062: `1.0 / (1.0 + mx.exp(-x))`, or `e = mx.exp(z); e / e.sum(-1, keepdims=True)`
    with `z` not shifted by a max, in code a gradient runs through."""

    id = "MLX062"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return "exp(" in text and differentiates(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in differentiated_nodes(source):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and (
                    self._sigmoid(source, node) or self._softmax(source, node)):
                yield self.hit(source, node)

    @staticmethod
    def _sigmoid(source: SourceFile, div: ast.BinOp) -> bool:
        """`1 / (1 + exp(z))` (either order of the sum)."""
        right = div.right
        return one(div.left) and isinstance(right, ast.BinOp) and isinstance(
            right.op, ast.Add) and any(one(a) and is_exp(source, b) for a, b in (
                (right.left, right.right), (right.right, right.left)))

    def _softmax(self, source: SourceFile, div: ast.BinOp) -> bool:
        """`e / <a sum of e>` where `e` is an unshifted exp (inline or a local name)."""
        function = source.enclosing(div)
        if function is None or isinstance(function, ast.Lambda):
            return False
        trace = Trace(source, function)
        exp = div.left
        if isinstance(exp, ast.Name):
            exp = trace.binding(exp.id, div.lineno)
        if exp is None or not is_exp(source, exp) or bounded(trace, exp):
            return False
        text = ast.unparse(div.left)
        return any(isinstance(n, ast.Call) and last_name(n.func) in SUMS and text in {
            ast.unparse(a) for a in (*n.args, getattr(n.func, "value", n.func))}
            for n in expanded(trace, div.right, div.lineno))


def bounded(trace: Trace, exp: ast.Call) -> bool:
    """The exponent is bounded: it subtracts a max (or a logsumexp), is clipped or capped,
    or is a negated magnitude, `-mx.abs(z)` (at most 0: the stable softplus's
    `log1p(exp(-abs(z)))`, fresh51 binary_adder_csv_compiled), through the function's local
    names and the module's helpers that return only a clip or a cap."""
    return any((isinstance(n, ast.Call) and (last_name(n.func) in BOUNDS or returns_bounded(
                   trace.source, n))) or non_positive(trace, n, exp.lineno)
               for n in expanded(trace, exponent(exp), exp.lineno))


def returns_bounded(source: SourceFile, call: ast.Call) -> bool:
    """The call runs a module function or method every `return` of which is a clip or a cap
    (`la = self.log_alpha()` with `return mx.clip(la, -10.0, 10.0)`: fresh334
    `millrace_weir_sparsevd`, correct, a sparse variational dropout's `log1p(exp(-la))`)."""
    helper = helper_of(source, call)
    returns = returns_of(helper) if helper is not None else []
    return bool(returns) and all(isinstance(v, ast.Call) and last_name(v.func) in BOUNDS
                                 for v in returns)


def non_positive(trace: Trace, node: ast.AST, line: int) -> bool:
    """`-abs(z)`, `-mx.abs(z)`, `-mx.square(z)`, or a negative constant times a magnitude
    (`-2 * a` with `a = mx.abs(d)`: the stable log-cosh's `log1p(exp(-2 * a))`, fresh83
    gelato_overrun_logcosh_vjp): never above 0."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return magnitude(trace, node.operand, line)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return any(negative_constant(k) and magnitude(trace, m, line)
                   for k, m in ((node.left, node.right), (node.right, node.left)))
    return False


def magnitude(trace: Trace, node: ast.AST, line: int) -> bool:
    """`abs(z)`, `mx.abs(z)`, `mx.square(z)`, or a local name bound to one."""
    if isinstance(node, ast.Name):
        node = trace.binding(node.id, line) or node
    return isinstance(node, ast.Call) and last_name(node.func) in ("abs", "absolute", "square")


def negative_constant(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant) and isinstance(
            node.operand.value, (int, float)) and node.operand.value > 0
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and \
        node.value < 0
