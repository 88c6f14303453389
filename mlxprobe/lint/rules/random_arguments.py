"""MLX273: an MLX random draw (or `mx.full`) handed a shape where it takes a value, or a number
where it takes a shape: `mx.random.bernoulli((batch, n), 1 - p)` (NumPy's and PyTorch's order,
shape first) puts the tuple in `p` and the number in `shape`. MLX's value parameters take a
scalar or an MLX array, never a tuple or list ("ValueError: Invalid type tuple received in
array initialization"), and its random draws take a sequence as their shape, never a number
(TypeError: incompatible function arguments): the first call raises, often in a branch that
only training runs (a dropout layer), after setup and evaluation ran fine.

Measured (mlx 0.32.4 CPU): a tuple or a list given to `p` of bernoulli, `low`/`high` of
uniform and randint, `loc` of normal, `lower` of truncated_normal or `vals` of `mx.full`
raised that ValueError (`scale` of laplace a TypeError); `bernoulli(0.5, 3)` and
`normal(3)` raised TypeError (`mx.zeros(3)` takes an int: only the random draws are judged
on their shape). Failure corpus fresh318 `cairn_compass_irrepdrop` (e3nn-mlx 8606409, an
equivariant dropout): `mx.random.bernoulli((batch, mul), 1 - self.p)` raised TypeError at
the first training forward pass; `bernoulli(1 - self.p, (batch, mul))` trained.

Job: calls that resolve to one of MLX's functions with a `shape` parameter
(`mlx_positions`), each argument matched to its parameter by position or keyword: a tuple or
list literal, or an array's `.shape` (fresh360 `ballast_shadow_trm`, TinyRecursiveModels-MLX
42b62fe: `mx.random.uniform(q_halt_logits.shape) < p` raised that ValueError in the
training forward), given to a value parameter (`VALUES`), or, for an `mx.random` draw, a number
(a numeric constant, or arithmetic with one and no sequence in it) given to `shape`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..mlx_positions import POSITIONS
from ..source import SourceFile
from .base import AnchoredRule

# parameters that take a scalar or an MLX array (measured above: a tuple or list raises)
VALUES = frozenset({"p", "low", "high", "loc", "scale", "lower", "upper", "vals"})
# MLX's functions with a shape where one of these calls can be wrong: the random draws, and
# those with a value parameter (`mx.full`); not `mx.zeros(3)`, `mx.reshape(x, shape)`
SHAPED = {name: params for name, params in POSITIONS.items() if "shape" in params and (
    name.startswith("mlx.core.random.") or not VALUES.isdisjoint(params))}
SHORT = tuple(sorted({name.rsplit(".", 1)[-1] + "(" for name in SHAPED}))
SEQUENCES = (ast.Tuple, ast.List)


def arguments(call: ast.Call, params: tuple[str, ...]) -> Iterator[tuple[str, ast.AST]]:
    """(parameter, argument) for each argument given by position or keyword."""
    for name, value in zip(params, call.args):
        if isinstance(value, ast.Starred):
            return
        yield name, value
    yield from ((k.arg, k.value) for k in call.keywords if k.arg)


def numeric(node: ast.AST) -> bool:
    """A number: a numeric constant, or arithmetic holding one and no sequence, call or
    subscript (`1 - self.p`; not `(3,) * 2` nor `x.shape[0] + 1`)."""
    parts = list(ast.walk(node))
    return isinstance(node, (ast.Constant, ast.BinOp, ast.UnaryOp)) and any(
        isinstance(n, ast.Constant) and type(n.value) in (int, float) for n in parts) and not any(
        isinstance(n, (*SEQUENCES, ast.Call, ast.Subscript, ast.Starred)) for n in parts)


def a_shape(node: ast.AST) -> bool:
    """An array's shape, a tuple: `x.shape`, or a slice of it (`x.shape[:2]`; not
    `x.shape[0]`, a number)."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        node = node.value
    return isinstance(node, ast.Attribute) and node.attr == "shape"


def misplaced(name: str, param: str, value: ast.AST) -> bool:
    """A sequence given where a value goes, or a number where a random draw's shape goes."""
    if param in VALUES:
        return isinstance(value, SEQUENCES) or a_shape(value)
    return param == "shape" and name.startswith("mlx.core.random.") and numeric(value)


class RandomArguments(AnchoredRule):
    """MLX273: `mx.random.bernoulli((batch, n), p)`: the shape where the value goes."""

    id = "MLX273"
    anchors = SHORT
    local = True
    in_methods = True

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            name = source.imports.resolve(call.func)
            params = SHAPED.get(name or "")
            if params and any(misplaced(name, p, v) for p, v in arguments(call, params)):
                yield self.hit(source, call)
