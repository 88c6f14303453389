"""MLX117: a learning-rate schedule that decays to zero (`optim.cosine_decay(lr, n)`,
`optim.linear_schedule(lr, 0.0, n)`) over `n` steps, where `n` is the trip count of an inner
loop (`for b in range(n)`) that an outer loop runs several times: the schedule ends after the
first pass (one epoch) and holds its end, 0, for every later one, so the model stops
learning after epoch 1.

Measured (mlx 0.32.4 CPU): `optim.cosine_decay(3e-4, 16)` gives 3e-4 at step 0, 2.9e-6 at
step 15 and 0.0 at steps 16, 17, 100 and 400. Failure corpus fresh12
`a12_cosine_decay_steps_per_epoch` (25 epochs of 16 steps, `decay_steps=steps_per_epoch`:
val_nll 2.2955 and val_err 0.891 identical for epochs 2-25; over `EPOCHS * steps_per_epoch`,
2.2484 -> 1.2996; ml-explore/mlx#859).

Job: find such schedules by the loop's own bound (the same expression as the schedule's
length); a schedule inside `join_schedules` (a warm-up) or built inside the outer loop (a
restart per epoch) is left alone.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

COSINE = "mlx.optimizers.cosine_decay"
LINEAR = "mlx.optimizers.linear_schedule"
JOIN = "mlx.optimizers.join_schedules"


def argument(call: ast.Call, position: int, keyword: str) -> ast.AST | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def zero(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0


def length_to_zero(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The length of a schedule that ends at 0: cosine_decay's decay_steps (its end left
    out or 0), linear_schedule's steps when its end is 0."""
    name = source.imports.resolve(call.func)
    if name == COSINE:
        end = argument(call, 2, "end")
        return argument(call, 1, "decay_steps") if end is None or zero(end) else None
    if name == LINEAR and zero(argument(call, 1, "end")):
        return argument(call, 2, "steps")
    return None


def range_bound(loop: ast.For) -> ast.AST | None:
    """`n` of `for i in range(n)`."""
    it = loop.iter
    return it.args[0] if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and \
        it.func.id == "range" and len(it.args) == 1 else None


def once(loop: ast.For) -> bool:
    """An outer loop that may run only once: `range(1)`, or over a one-element literal."""
    bound = range_bound(loop)
    return (isinstance(bound, ast.Constant) and bound.value == 1) or (
        isinstance(loop.iter, (ast.List, ast.Tuple)) and len(loop.iter.elts) == 1)


class ScheduleEndsInOneEpoch(Rule):
    """MLX117: `cosine_decay(lr, steps_per_epoch)` with `for b in range(steps_per_epoch)`
    inside `for epoch in range(EPOCHS)`: the learning rate is 0 after the first epoch."""

    id = "MLX117"
    anchors = ("cosine_decay", "linear_schedule")

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("cosine_decay" in text or "linear_schedule" in text) and "range(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            length = length_to_zero(source, call)
            if length is not None and not self._joined(source, call) and any(
                    self._one_pass(source, loop, call, ast.dump(length))
                    for loop in source.of_type(ast.For)):
                yield self.hit(source, call)

    @staticmethod
    def _joined(source: SourceFile, call: ast.Call) -> bool:
        parent = source.parents.get(call)
        while isinstance(parent, (ast.List, ast.Tuple)):
            parent = source.parents.get(parent)
        return isinstance(parent, ast.Call) and source.imports.resolve(parent.func) == JOIN

    @staticmethod
    def _one_pass(source: SourceFile, loop: ast.For, schedule: ast.Call, length: str) -> bool:
        """`loop` runs `length` times inside an outer loop that may run more than once and
        does not build the schedule."""
        bound = range_bound(loop)
        if bound is None or ast.dump(bound) != length:
            return False
        outer = source.enclosing(loop, (ast.For, ast.While))
        if outer is None or (isinstance(outer, ast.For) and once(outer)):
            return False
        inside = source.enclosing(schedule, (ast.For, ast.While))
        while inside is not None and inside is not outer:
            inside = source.enclosing(inside, (ast.For, ast.While))
        return inside is None
