"""MLX252: one entry of a shape iterated as if it were the shape: `list(x.shape[-1])`,
`tuple(x.shape[0])`, `for i in x.shape[1]:`, `[*x.shape[2], d]`. An entry of `.shape` is an
int, and an int is not iterable: the line raises `TypeError: 'int' object is not iterable`
the first time it runs (often at the first forward pass or the first render, before any
update). Meant: the slice of the shape (`x.shape[:-1]`) or a range (`range(x.shape[0])`).

Measured (mlx 0.32.4 CPU, failure corpus fresh254 `aurora_raymarch_probe`, nerf_meets_mlx
1e08319): a NeRF whose `run_model` restored its outputs with
`mx.reshape(outputs_flat, list(inputs_embedded.shape[-1]) + [outputs_flat.shape[-1]])` died
with that TypeError at its first (untrained) render; reshaped to `[B, n, C]` from the input's
shape, it trained.

Job: `list`/`tuple`/`set`/`sorted`/`enumerate`/`zip` called on, a `for` or comprehension over,
or a `*` unpacking of, a subscript of `.shape` by an int literal (`-1` too). A slice of the
shape (a tuple) is left alone. Must not import: mlx, anything of mlxprobe outside
`mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

ITERATES = frozenset({"list", "tuple", "set", "sorted", "enumerate", "zip"})


def dimension(node: ast.AST) -> bool:
    """`x.shape[i]` with `i` an int literal (`-1` too): an int."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "shape"):
        return False
    index = node.slice
    if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
        index = index.operand
    return isinstance(index, ast.Constant) and type(index.value) is int


def iterated(node: ast.AST) -> Iterator[ast.AST]:
    """The expressions `node` iterates over."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
            node.func.id in ITERATES):
        yield from node.args
    elif isinstance(node, (ast.For, ast.comprehension)):
        yield node.iter
    elif isinstance(node, ast.Starred):
        yield node.value


class DimensionIterated(Rule):
    """MLX252: `list(x.shape[-1])`: an int iterated."""

    id = "MLX252"
    anchors = (".shape[",)
    local = True  # reads one expression

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".shape[" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Call, ast.For, ast.comprehension, ast.Starred):
            for over in iterated(node):
                if dimension(over):
                    yield self.hit(source, over)
