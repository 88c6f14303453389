"""MLX210: a block written into an array made with a leading axis of size 1 as if it had
none: `m = mx.ones((1, S, S)); m[start:end, start:end] = 0`. The first slice indexes the
size-1 axis, so `start:end` keeps nothing once `start` >= 1 and the second slice cuts rows:
the write lands on the wrong axis, and every write after the first is empty.

Measured (mlx 0.32.4 CPU, failure corpus fresh196 `glyphsheet_cuseq`, mlx-vlm 79fddfc): a
vision tower's block-diagonal mask for packed images, `mx.ones((1, S, S))` written with
`[start:end, start:end] = 0`, zeroed only the first image's rows, so every patch attended to
every packed image and the loss plateaued (val mse ~0.13, R2 ~0.67); with an (S, S) mask it
isolated the images.

Job: in one function, a name bound to `mx.ones`/`mx.zeros`/`mx.full`/`mx.array`-free shape
makers whose shape is a tuple display of three or more entries with the literal 1 first, and a
subscript assignment into that name with fewer indices than its axes, the first a slice with
a bound (`a:b`, `a:`): the slice meant for the second axis hits the first.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments
from ..source import FUNCTIONS, SourceFile
from .base import Rule

MAKERS = frozenset(f"mlx.core.{n}" for n in ("ones", "zeros", "full"))


class SliceIntoSingletonAxis(Rule):
    """MLX210: `m = mx.ones((1, S, S)); m[a:b, a:b] = v`: the slice hits the size-1 axis."""

    id = "MLX210"
    anchors = ("((1,",)
    local = True  # reads one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "((1," in text and "] = " in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            made = singleton_led(source, function)
            if not made:
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Assign) and any(
                        short_slice(t, made) for t in node.targets):
                    yield self.hit(source, node)


def singleton_led(source: SourceFile, function: ast.AST) -> dict[str, int]:
    """Names the function binds to an array made with a shape (1, ...) of >= 3 axes, to
    their number of axes."""
    found: dict[str, int] = {}
    for target, value in body_assignments(source, function):
        if isinstance(target, ast.Name) and isinstance(value, ast.Call) and value.args \
                and source.imports.resolve(value.func) in MAKERS:
            shape = value.args[0]
            if isinstance(shape, ast.Tuple) and len(shape.elts) >= 3 and isinstance(
                    shape.elts[0], ast.Constant) and shape.elts[0].value == 1:
                found[target.id] = len(shape.elts)
    return found


def short_slice(target: ast.AST, made: dict[str, int]) -> bool:
    """`name[a:b, ...] = ...` with fewer indices than the array's axes, the first a bounded
    slice."""
    if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
            and target.value.id in made):
        return False
    index = target.slice
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    first = parts[0]
    return len(parts) < made[target.value.id] and isinstance(first, ast.Slice) and (
        first.lower is not None or first.upper is not None)
