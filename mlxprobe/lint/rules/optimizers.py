"""MLX072: a hand-written optimizer whose second moment squares the parameter, not the
gradient. MLX082: a hand-written `apply_single` that returns the step, not the new parameter.

Job: in an `apply_single(self, gradient, parameter, state)` method (the per-parameter step
of an `mlx.optimizers.Optimizer` subclass), find a value squared (`mx.square(p)`, `p ** 2`,
`p * p`) where `p` is the parameter argument (or a name made from it) and not the gradient,
in an assignment that reads no gradient at all. Adam, RMSprop, Adagrad, AdaBelief and ADOPT
all keep `v <- b2 * v + (1 - b2) * g**2`, the gradient's second moment; squaring the
weights makes each step `lr * m / |w|`: tiny for large weights, huge for small ones.
Measured (mlx 0.32.4 CPU, failure corpus fresh7 `adopt_second_moment_uses_params`,
mlx-optimizers issue 43): train mse 0.51 -> 0.44 over 80 epochs against 0.51 -> 0.09 with
`mx.square(gradient)`. A weight EMA (`ema = d * ema + (1 - d) * p`) squares nothing and is
left alone.

MLX082: `Optimizer.apply_single` returns the parameter's new value (`Optimizer.update`
writes whatever it returns into the model); a return that reads neither the parameter nor a
name made from it returns the step itself, and the model becomes its own update. Measured
(mlx 0.32.4 CPU, failure corpus fresh9 `b9_entropy_adam_returns_step`, mlx issue 1581): an
Adam subclass returning `lr * m / (sqrt(v) + eps)`: loss 11.3 -> 9.6 over 12 reports, never
converging; `return parameter - step` trains.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import returns_of
from ..finding import Finding
from ..flow import body_assignments, derived, names_in
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

SQUARE = frozenset({"mlx.core.square"})


def step_methods(source: SourceFile) -> Iterator[tuple[ast.AST, str, str]]:
    """(method, gradient name, parameter name) of each `apply_single` of the module."""
    for function in source.of_type(*FUNCTIONS):
        names = [a.arg for a in getattr(function, "args", None).args] if isinstance(
            function, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
        if function.name == "apply_single" and len(names) >= 4 and names[0] == "self":
            yield function, names[1], names[2]


def squared(source: SourceFile, node: ast.AST) -> set[str]:
    """The names squared inside `node`: `mx.square(x)`, `x ** 2`, `x * x`."""
    found: set[str] = set()
    for part in descendants(node):
        if isinstance(part, ast.Call) and source.imports.resolve(part.func) in SQUARE:
            found |= names_in(part.args[0]) if part.args else set()
        elif isinstance(part, ast.BinOp) and isinstance(part.op, ast.Pow) and isinstance(
                part.right, ast.Constant) and part.right.value == 2:
            found |= names_in(part.left)
        elif isinstance(part, ast.BinOp) and isinstance(part.op, ast.Mult) and ast.dump(
                part.left) == ast.dump(part.right):
            found |= names_in(part.left)
    return found


class SecondMomentOfWeights(Rule):
    """MLX072: `v = b2 * v + (1 - b2) * mx.square(parameter)` in `apply_single`."""

    id = "MLX072"
    anchors = ("apply_single",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "apply_single" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for method, gradient, parameter in step_methods(source):
            weights = derived(method.body, parameter, gradient)
            for _, value in body_assignments(source, method):
                if weights & squared(source, value) and gradient not in names_in(value):
                    yield self.hit(source, value)


class ReturnsTheStep(Rule):
    """MLX082: `return lr * m / (mx.sqrt(v) + eps)` in `apply_single`: no parameter in it."""

    id = "MLX082"
    anchors = ("apply_single",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "apply_single" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for method, _, parameter in step_methods(source):
            weights = derived(method.body, parameter)
            for node in returns_of(method):
                if node is not None and not weights & names_in(node):
                    yield self.hit(source, node)
