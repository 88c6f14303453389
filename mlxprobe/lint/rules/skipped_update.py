"""MLX185: an optimizer's `apply_single` that hands a parameter back unchanged when the
parameter has some shape (`if parameter.ndim != 2: return parameter`): every parameter of that
shape (the biases, the norms' scales, the embeddings) is never updated, while the loss still
falls through the others. A condition on the optimizer's own state (ADOPT's first step,
`if state["step"] == 1: return parameter`) skips one step for all and is left alone.

Measured (mlx 0.32.4 CPU, failure corpus fresh139 `pyranometer_offset_muon`, mlx-optimizers
4ec812d: Muon's route for flat parameters commented out, `return parameter` left): every
vector of the model stayed at its initial value (the offset head never moved) while the
matrices trained; routing them to the alternate optimizer trains them all.

Job: in a method named `apply_single` (the hook `mlx.optimizers.Optimizer` calls per
parameter), an `if` whose test reads the parameter argument's `ndim`/`shape`/`size`/`dtype`
(or `len` of it), one of whose branches returns that argument as it came in. Must not import:
mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import bound, walk
from ..source import FUNCTIONS, SourceFile
from .base import Rule

SHAPE_FACTS = frozenset({"ndim", "shape", "size", "dtype"})


def parameter_argument(function: ast.AST) -> str | None:
    """`parameter` of `apply_single(self, gradient, parameter, state)`."""
    names = [a.arg for a in function.args.args]
    return names[2] if len(names) >= 4 and names[0] == "self" else None


def reads_shape(test: ast.AST, name: str) -> bool:
    """`parameter.ndim != 2`, `len(parameter.shape) < 2`, `len(parameter) == 1`, ..."""
    for node in ast.walk(test):
        if isinstance(node, ast.Attribute) and node.attr in SHAPE_FACTS and isinstance(
                node.value, ast.Name) and node.value.id == name:
            return True
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "len" and any(
                isinstance(a, ast.Name) and a.id == name for a in node.args):
            return True
    return False


def returns_unchanged(branch: list[ast.stmt], name: str) -> ast.Return | None:
    """A `return name` in the branch, with `name` not rebound in it before."""
    for node in walk(branch):
        if name in bound(node):
            return None
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Name) and (
                node.value.id == name):
            return node
    return None


class ShapeSkippedUpdate(Rule):
    """MLX185: `if parameter.ndim != 2: return parameter` in `apply_single`."""

    id = "MLX185"
    anchors = ("apply_single",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "def apply_single" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            name = parameter_argument(function) if function.name == "apply_single" else None
            if name is not None:
                yield from self._skips(source, function, name)

    def _skips(self, source: SourceFile, function: ast.AST, name: str) -> Iterator[Finding]:
        for node in walk(function.body):
            if isinstance(node, ast.If) and reads_shape(node.test, name):
                found = returns_unchanged(node.body, name) or returns_unchanged(
                    node.orelse, name)
                if found is not None:
                    yield self.hit(source, found)
