"""MLX074: a compiled function called in a loop with a Python number that changes at every
call: `mx.compile` keys its cache on non-array arguments, so each new value is a new trace
and new kernels.

Job: in a training program (a loop, and a gradient or an optimizer update), in a loop, find
a call of a compiled function (a def decorated with `mx.compile`, or a
name bound to `mx.compile(f)`) given, as an argument, a Python number made from the loop's
own counter (the `for` variable of `range`/`enumerate`, or a name the loop body increments)
by arithmetic and `min`/`max`/`float`/`int`/`round`/`math.*`: it changes at every
iteration of that loop. Measured (mlx 0.32.4 CPU, failure corpus fresh7
`compile_scalar_warmup_stall`, mlx issue 3964): a warm-up factor `min(1, step / WARMUP)`
passed as a float: 1-3 s a step, the compiler running 77% of the time; as `mx.array(warm)`:
1.3 ms a step. A value that changes only in an outer loop (once per epoch) costs one trace
per epoch and is left alone, and so is any value wrapped in `mx.array`, and a counter the
loop resets (mlx-lm-lora's gradient-accumulation count: a few values, each traced once).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import compiled, contexts
from ..finding import Finding
from ..flow import assigned, assignments, body_nodes, bound_only, calls, names_in, walk
from ..source import LOOPS, SourceFile
from .base import Rule, trains

NUMERIC = frozenset({"min", "max", "float", "int", "round", "abs"})
COUNTED = frozenset({"range", "enumerate"})


def counters(loop: ast.AST) -> set[str]:
    """What changes at every iteration: a `for` over range/enumerate's variable (the index),
    and the names the loop's own body increments (`step += 1`) and never resets to a
    constant there (an accumulation counter reset at each update cycles through a few
    values, each traced once)."""
    found: set[str] = set()
    if isinstance(loop, ast.For) and isinstance(loop.iter, ast.Call) and isinstance(
            loop.iter.func, ast.Name) and loop.iter.func.id in COUNTED:
        target = loop.target.elts[0] if isinstance(loop.target, ast.Tuple) else loop.target
        found |= set(assigned(target))
    reset = {t.id for t, v in assignments(walk(loop.body))
             if isinstance(t, ast.Name) and isinstance(v, ast.Constant)}
    return found | {t for n in walk(loop.body) if isinstance(n, ast.AugAssign)
                    for t in assigned(n.target)} - reset


def numeric(node: ast.AST, names: set[str], moving: set[str]) -> bool:
    """A Python number made from constants, `names` (numbers) and `moving` names."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.Name):
        return node.id in names | moving
    if isinstance(node, ast.BinOp):
        return numeric(node.left, names, moving) and numeric(node.right, names, moving)
    if isinstance(node, ast.UnaryOp):
        return numeric(node.operand, names, moving)
    if isinstance(node, ast.Call) and not node.keywords and node.args:
        func = node.func
        known = (isinstance(func, ast.Name) and func.id in NUMERIC) or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id == "math")
        return known and all(numeric(a, names, moving) for a in node.args)
    return False


def changing(loop: ast.AST, constants: set[str]) -> set[str]:
    """The counters, and names the loop's body binds to numbers made from them."""
    moving = counters(loop)
    for _ in range(2):
        for target, value in assignments(walk(loop.body)):
            if isinstance(target, ast.Name) and numeric(value, constants, moving) and \
                    names_in(value) & moving:
                moving.add(target.id)
    return moving


def number_constants(source: SourceFile) -> set[str]:
    """Names the module binds only to plain numbers (`WARMUP = 1500`)."""
    return bound_only(assignments(source.of_type(ast.Assign)), lambda value: isinstance(
        value, ast.Constant) and isinstance(value.value, (int, float)))


def traced_functions(source: SourceFile) -> set[ast.AST]:
    """The module's own functions run under `mx.compile`."""
    return {f for f, kinds in contexts(source).items() if "compile" in kinds}


def runs_traced(source: SourceFile, call: ast.Call, traced: set[ast.AST]) -> ast.AST | None:
    """The compiled function among `traced` that a call runs (a name bound to `mx.compile(f)`,
    or a decorated def called by name), else None."""
    target = compiled(source, call)
    if target is None and isinstance(call.func, ast.Name):
        target = source.local_function(call.func.id)
    return target if target in traced else None


class ScalarIntoCompiled(Rule):
    """MLX074: `train_step(x, y, min(1.0, step / WARMUP))` where `train_step` is compiled
    and `step` is the loop's counter."""

    id = "MLX074"
    anchors = ("compile",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "compile" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not trains(source.text):
            return
        traced = traced_functions(source)
        if not traced:
            return
        constants = number_constants(source)
        for loop in source.of_type(*LOOPS):
            moving = changing(loop, constants)
            for call in calls(body_nodes(source, loop)):
                if source.enclosing(call, LOOPS) is loop and runs_traced(source, call, traced):
                    yield from (self.hit(source, a) for a in self._args(call)
                                if numeric(a, constants, moving) and names_in(a) & moving)

    @staticmethod
    def _args(call: ast.Call) -> list[ast.AST]:
        return [*call.args, *(k.value for k in call.keywords)]
