"""MLX118: a training loop over `zip(range(n), batches(...))` where `batches` is the module's own
generator that makes one pass over the data (no `while` loop in it): `zip` stops at the
shorter of the two, so the run ends after one epoch instead of `n` iterations, exits 0, and
says nothing (mlx-lm's `iterate_batches` loops with `while True` for this reason).

Measured (mlx 0.32.4 CPU, failure corpus fresh22 `zip_iters_single_pass_batches`, from
mlx-forge's fix): a run configured for 600 iterations over a 6-batch generator did 6 updates
and exited 0 in 0.44 s, the held-out loss where it started (0.70 -> 0.68); with
`itertools.cycle(...)` it ran 600 (0.70 -> 0.0013).

Job: find such loops (their body updates parameters or takes a gradient); a generator with a
`while` loop, or wrapped in `itertools.cycle`, is left alone.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import function_of, transformed
from ..finding import Finding
from ..flow import calls, reach, walk
from ..source import SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update
from .state import model_update


def counted(node: ast.AST) -> bool:
    """`range(...)`."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
        node.func.id == "range"


def one_pass(source: SourceFile, node: ast.AST) -> bool:
    """A call of the module's own generator function whose body has no `while` loop."""
    if not isinstance(node, ast.Call):
        return False
    function = function_of(source, node.func)
    if function is None or isinstance(function, ast.Lambda):
        return False
    nodes = list(walk(function.body))
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in nodes) and not any(
        isinstance(n, ast.While) for n in nodes)


def steps(source: SourceFile, loop: ast.For) -> bool:
    """The loop's body (and the module's own helpers it calls) updates parameters or calls a
    gradient or compiled function."""
    made = transformed(source)
    return any(is_optimizer_update(source, c) or model_update(c) or (
        isinstance(c.func, ast.Name) and c.func.id in made) for c in calls(reach(
            source, loop.body)))


class ZipStopsAtOnePass(Rule):
    """MLX118: `for it, batch in zip(range(1, iters + 1), iterate_batches(data, bs))` with a
    one-pass generator: the run stops after one epoch."""

    id = "MLX118"
    anchors = ("zip(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "zip(" in text and "yield" in text and "range(" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for loop in source.of_type(ast.For):
            it = loop.iter
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and \
                    it.func.id == "zip" and any(counted(a) for a in it.args) and any(
                        one_pass(source, a) for a in it.args) and steps(source, loop):
                yield self.hit(source, it)
