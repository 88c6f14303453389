"""MLX199: an optimizer whose learning rate is a schedule that branches on its step in Python
(`if step < self.warmup_steps:`, `int(step)`, `step.item()`), stepped inside a compiled
function. The optimizer calls the schedule with its step array at each update; under
`mx.compile` that array is traced, and a Python `if` on it (or a conversion to a number)
needs its value: the first compiled step raises `ValueError: [eval] Attempting to eval an
array during function transformations like compile or vmap is not allowed`.

Measured (mlx 0.32.4 CPU, failure corpus fresh183 `compiled_schedule_denoiser`,
DeepFilterNet4 873cd65): a warm-up + cosine schedule object passed to `optim.AdamW` and an
`optimizer.update` inside `@partial(mx.compile, inputs=state, outputs=state)` died at the
first step with that error; a fixed rate on the optimizer, set from the schedule outside the
compiled step (`optimizer.learning_rate = schedule(step)`), trained to a 13.1 dB gain.

Job: the optimizers the module builds (`name = optim.X(learning_rate=S)`, or S first), S
resolved to a lambda, a module function, or an instance of a module class with `__call__`
(`schedule = WarmupCosineSchedule(...)`); the schedule host-branches when an `if`/`while`/
conditional expression tests its step parameter, or `int`/`float`/`bool`/`round` or `.item()`
reads it; fire at each `update`/`apply_gradients` of that optimizer that a compiled function
runs. mlx.optimizers' own schedules (`optim.cosine_decay`, `join_schedules`) compute on the
step array and never fire.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import function_of, under
from ..finding import Finding
from ..flow import assignments, instance_method
from ..names import last_name
from ..source import SourceFile
from .base import Rule

CONVERSIONS = frozenset({"int", "float", "bool", "round"})
BRANCHES = (ast.If, ast.While, ast.IfExp)
STEPS = frozenset({"update", "apply_gradients"})


def learning_rate(call: ast.Call) -> ast.AST | None:
    given = [k.value for k in call.keywords if k.arg == "learning_rate"]
    return given[0] if given else (call.args[0] if call.args else None)


def schedule_function(source: SourceFile, node: ast.AST | None) -> ast.AST | None:
    """The lambda, module function or `__call__` a learning rate names."""
    function = function_of(source, node) if node is not None else None
    if function is None and isinstance(node, ast.Name):
        return instance_method(source, node.id, "__call__")
    return function


def host_branches(function: ast.AST) -> bool:
    """An `if`/`while` tests the step parameter, or a conversion reads it."""
    params = [a.arg for a in function.args.args if a.arg != "self"]
    if not params:
        return False
    step = params[0]
    body = function.body if isinstance(function.body, list) else [function.body]
    nodes = [n for statement in body for n in ast.walk(statement)]
    return any(_reads(n.test, step) for n in nodes if isinstance(n, BRANCHES)) or any(
        isinstance(n, ast.Call) and (
            (isinstance(n.func, ast.Name) and n.func.id in CONVERSIONS and n.args
             and _reads(n.args[0], step))
            or (isinstance(n.func, ast.Attribute) and n.func.attr == "item"
                and _reads(n.func.value, step))) for n in nodes)


def _reads(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def branching_optimizers(source: SourceFile) -> set[str]:
    """Names bound to an `mlx.optimizers` optimizer whose rate is a host-branching schedule."""
    found = set()
    for target, value in assignments(source.of_type(ast.Assign)):
        if isinstance(value, ast.Call) and (source.imports.resolve(value.func) or "").startswith(
                "mlx.optimizers.") and (name := last_name(target)) is not None:
            function = schedule_function(source, learning_rate(value))
            if function is not None and host_branches(function):
                found.add(name)
    return found


class CompiledHostSchedule(Rule):
    """MLX199: `optim.AdamW(learning_rate=schedule)` whose schedule does `if step < w:`,
    stepped in a compiled function."""

    id = "MLX199"
    anchors = ("compile",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "compile" in text and "learning_rate" in text and (
            "if " in text or "int(" in text or "float(" in text or ".item()" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        optimizers = branching_optimizers(source)
        if not optimizers:
            return
        for _, nodes in under(source, "compile"):
            for node in nodes:
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                        node.func.attr in STEPS and last_name(node.func.value) in optimizers:
                    yield self.hit(source, node)
