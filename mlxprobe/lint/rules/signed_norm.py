"""MLX167: a p-norm written on a signed difference: `mx.sqrt(mx.power(a - b, p).sum(axis))`
(or a `** p` inside a root) where `p` is not 2. An odd or fractional power of a negative
difference is negative or NaN, so the root of its sum is NaN, or the "distance" is negative:
the norm needs the magnitude, `mx.abs(a - b)`, and the p-th root, not the square root.

Measured (mlx 0.32.4 CPU, failure corpus fresh57 `l1_triplet_sqrt_norm`, mlx PR 3613 fixed
the same formula in `nn.losses.triplet_loss`): a triplet loss with p=1 went NaN at its first
report; with `mx.abs` and the 1/p root it trains.

Job: a root (`mx.sqrt(...)`, `mx.power(..., 1 / p)`, `... ** 0.5`) whose argument holds a
sum (`.sum(...)`, `mx.sum(...)`) of a power of a subtraction (`mx.power(a - b, e)`, `(a - b)
** e`) with an exponent other than the constant 2 (or 2.0) and no `abs` around the
subtraction. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile, descendants
from .base import Rule

SQRT = "mlx.core.sqrt"
SIGNED_POWER = re.compile(r"power\(\s*[\w.\[\]]+\s*-\s*[\w.\[\]]+\s*,|-\s*[\w.\[\]]+\s*\)\s*\*\*")
POWER = "mlx.core.power"


def powered(source: SourceFile, node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    """(base, exponent) of `mx.power(base, e)` or `base ** e`, else None."""
    if isinstance(node, ast.Call) and source.imports.resolve(node.func) == POWER \
            and len(node.args) == 2:
        return node.args[0], node.args[1]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return node.left, node.right
    return None


def signed_power(source: SourceFile, node: ast.AST) -> bool:
    """A power of a bare subtraction whose exponent is not the constant 2."""
    found = powered(source, node)
    if found is None:
        return False
    base, exponent = found
    square = isinstance(exponent, ast.Constant) and exponent.value in (2, 2.0)
    return isinstance(base, ast.BinOp) and isinstance(base.op, ast.Sub) and not square


def root_argument(source: SourceFile, node: ast.AST) -> ast.AST | None:
    """The argument of a root: `mx.sqrt(x)`, `mx.power(x, 1 / p)`, `x ** 0.5`, else None."""
    if isinstance(node, ast.Call) and source.imports.resolve(node.func) == SQRT and node.args:
        return node.args[0]
    found = powered(source, node)
    if found is None:
        return None
    exponent = found[1]
    reciprocal = isinstance(exponent, ast.BinOp) and isinstance(exponent.op, ast.Div) and \
        isinstance(exponent.left, ast.Constant) and exponent.left.value in (1, 1.0)
    half = isinstance(exponent, ast.Constant) and exponent.value == 0.5
    return found[0] if reciprocal or half else None


class SignedNorm(Rule):
    """MLX167: `mx.sqrt(mx.power(a - b, p).sum())`: a p-norm without the magnitude."""

    id = "MLX167"
    anchors = ("sqrt(", "power(", "**")
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """A sum, and a power of a subtraction: `power(a - b,` or `- b) ** p` (a text test:
        powers and roots alone are in most model files)."""
        return "sum(" in text and SIGNED_POWER.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in [*source.of_type(ast.Call), *source.of_type(ast.BinOp)]:
            inside = root_argument(source, node)
            if inside is not None and any(any(signed_power(source, part)
                                              for part in descendants(summed))
                                          for summed in sums(source, inside)):
                yield self.hit(source, node)


def sums(source: SourceFile, node: ast.AST) -> Iterator[ast.AST]:
    """What the sums under `node` add up: `x.sum(...)`'s `x`, `mx.sum(x, ...)`'s `x` (a norm
    sums its powers; a power alone under a root is another formula: an inverse CDF's
    `(1 - (1 - u) ** (1 / b)) ** (1 / a)`, fresh39, correct)."""
    for part in descendants(node):
        if not isinstance(part, ast.Call):
            continue
        if source.imports.resolve(part.func) == "mlx.core.sum":
            yield from part.args[:1]
        elif isinstance(part.func, ast.Attribute) and part.func.attr == "sum":
            yield part.func.value
