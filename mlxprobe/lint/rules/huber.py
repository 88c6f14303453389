"""MLX077: a Huber / smooth-L1 loss written by hand that picks its branch on the signed
error instead of its magnitude.

Job: find `mx.where(d < beta, <quadratic in d>, ...)` (or `d <= beta`, `beta > d`) where `d`
is bound to a difference (`d = pred - target`, on one line) and never made absolute, and
`beta` is not 0: every negative error, however large, takes the quadratic branch, so its
gradient grows without the linear cap, and outliers on one side dominate. The magnitude
`mx.abs(d)` must choose the branch. Measured (mlx 0.32.4 CPU, failure corpus fresh7
`smooth_l1_signed_diff`; mlx PR 1974 fixed MLX's own `smooth_l1_loss` for the same formula):
the loss rose 6.5 -> 7.1 over 20 epochs with SGD+momentum; with `diff = mx.abs(pred -
target)` it fell 0.49 -> 0.15. A branch on the sign itself (`d < 0`: a pinball or quantile
loss) is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, bound_only
from ..source import SourceFile, descendants
from .base import Rule

WHERE = "mlx.core.where"
# `where(d < beta` or `where(beta > d`: both sides' names
WHERE_TEST = re.compile(r"where\(\s*(\w+)\s*(?:<=?|>=?)\s*(\w+)")
SQUARE = "mlx.core.square"


def differences(source: SourceFile, call: ast.Call) -> set[str]:
    """Local names bound (only) to `a - b` in the function around `call`."""
    function = source.enclosing(call)
    if function is None:
        return set()
    return bound_only(body_assignments(source, function),
                      lambda value: isinstance(value, ast.BinOp) and isinstance(value.op, ast.Sub))


def compared(test: ast.AST) -> str | None:
    """`d` of `d < beta`, `d <= beta`, `beta > d` (beta not the constant 0)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, (ast.Gt, ast.GtE)):
        left, right = right, left
    elif not isinstance(op, (ast.Lt, ast.LtE)):
        return None
    if isinstance(right, ast.Constant) and right.value == 0:
        return None
    return left.id if isinstance(left, ast.Name) else None


def quadratic(source: SourceFile, node: ast.AST, name: str) -> bool:
    """`node` squares `name`: `mx.square(d)`, `d ** 2`, `d * d`, or a product in which `d`
    is two of the factors (`0.5 * d * d / beta`: fresh55 `courier_eta_smoothl1`)."""
    for part in descendants(node):
        if isinstance(part, ast.Call) and source.imports.resolve(part.func) == SQUARE:
            if part.args and isinstance(part.args[0], ast.Name) and part.args[0].id == name:
                return True
        if isinstance(part, ast.BinOp) and isinstance(part.left, ast.Name) and \
                part.left.id == name and isinstance(part.op, ast.Pow):
            return True
        if isinstance(part, ast.BinOp) and isinstance(part.op, ast.Mult) and sum(
                isinstance(f, ast.Name) and f.id == name for f in factors(part)) >= 2:
            return True
    return False


def factors(node: ast.AST) -> list[ast.AST]:
    """The factors of a product, through nested products and the numerator of a quotient."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return factors(node.left) + factors(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return factors(node.left)
    return [node]


class SignedHuber(Rule):
    """MLX077: `mx.where(d < beta, 0.5 * d ** 2 / beta, ...)` with `d = pred - target`."""

    id = "MLX077"
    anchors = ("where(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `where(d < ...` whose `d` is bound on one line to a difference."""
        if "where(" not in text:
            return False
        names = {n for m in WHERE_TEST.finditer(text) for n in m.groups()}
        return bool(names) and re.search(
            rf"^[ \t]*(?:{'|'.join(sorted(names))}) = [^\n]* - ", text, re.MULTILINE) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) != WHERE or len(call.args) < 2:
                continue
            name = compared(call.args[0])
            if name and name in differences(source, call) and quadratic(
                    source, call.args[1], name):
                yield self.hit(source, call)
