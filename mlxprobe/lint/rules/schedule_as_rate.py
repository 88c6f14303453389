"""MLX229: a learning-rate schedule assigned to an optimizer's rate after it was built,
`optimizer.learning_rate = optim.cosine_decay(...)`. The `learning_rate` setter stores
`mx.array(value)`, which cannot hold a function: the assignment raises `ValueError: Invalid
type function received in array initialization.` The schedule belongs in the constructor,
`optim.AdamW(learning_rate=schedule)`, which calls it at each step.

Measured (mlx 0.32.4 CPU, failure corpus fresh232 `quarry_lantern_rerank`, bert-playground
9f1b362): a trainer that built its optimizer first and set `self.optimizer.learning_rate =
schedule_result` (a `join_schedules` of warm-up and cosine) once it knew the step count died
with that ValueError before the first step; passing the schedule to the constructor trained
(loss fell, rc 0).

Job: an assignment to `X.learning_rate` whose value may be a schedule: a call of one of
`mlx.optimizers`' schedule builders, a lambda, a function of the module, a name bound to one
of those in the same function, or the result of a module helper one of whose returns is one. A value
called at a step (`schedule(step)`) is a number and is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, helper_of, name_values
from ..source import FUNCTIONS, SourceFile
from .base import Rule

BUILDERS = frozenset(f"mlx.optimizers.{n}" for n in (
    "cosine_decay", "exponential_decay", "step_decay", "linear_schedule", "join_schedules"))
DEPTH = 3


class ScheduleAsRate(Rule):
    """MLX229: `optimizer.learning_rate = schedule` (a function, not a number)."""

    id = "MLX229"
    anchors = (".learning_rate =",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".learning_rate =" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            target = node.targets[0] if len(node.targets) == 1 else None
            if isinstance(target, ast.Attribute) and target.attr == "learning_rate" and \
                    is_schedule(source, node.value, source.enclosing(node), DEPTH):
                yield self.hit(source, node)


def is_schedule(source: SourceFile, value: ast.AST, scope: ast.AST | None, depth: int) -> bool:
    """`value` is a function the optimizer would have to call: a schedule builder's result,
    a lambda, a module function, or a name bound to one of those."""
    if depth <= 0:
        return False
    if isinstance(value, ast.Lambda):
        return True
    if isinstance(value, ast.Call):
        return source.imports.resolve(value.func) in BUILDERS or returns_schedule(
            source, value, depth - 1)
    if not isinstance(value, ast.Name):
        return False
    if value.id in module_functions(source):
        return True
    return any(is_schedule(source, v, scope, depth - 1)
               for v in name_values(source, value.id, scope))


def returns_schedule(source: SourceFile, call: ast.Call, depth: int) -> bool:
    """A call of a module helper one `return` of which gives a schedule (a helper that
    returns `mx.array(lr)` for a constant rate and a schedule otherwise)."""
    helper = helper_of(source, call)
    if helper is None:
        return False
    returns = [n.value for n in body_nodes(source, helper)
               if isinstance(n, ast.Return) and n.value is not None
               and source.enclosing(n) is helper]
    return any(is_schedule(source, r, helper, depth) for r in returns)


def module_functions(source: SourceFile) -> set[str]:
    return {n.name for n in source.tree.body if isinstance(n, FUNCTIONS)}
