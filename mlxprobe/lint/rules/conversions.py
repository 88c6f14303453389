"""MLX114: a compiled function called in a loop turns one of its arguments into an array with
`mx.array(...)` (itself or in a helper it hands the argument to): the argument is Python data
(a list of token ids, a list of strings), and `mx.compile` keys its cache on non-array
arguments, so every new batch is a new trace and a new cache entry that is never freed.

Measured (mlx 0.32.4 CPU): a compiled `f(rows, w)` doing `mx.array(rows) @ w`, called 300
times with new lists of ints, traced 300 times; the same function given `mx.array(rows)`
traced once. Failure corpus fresh20 `compiled_step_text_recompile`: a compiled TTS step
tokenising its list of transcripts inside, RSS 62 -> 450 MB over 3,000 steps and steps 2-3x
slower; with the text encoded outside, flat.

Job: in a training program, find such calls of a compiled function inside a loop; an
argument followed into the module's own helpers a few levels deep.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import function_of, holds_mx_call
from ..finding import Finding
from ..flow import (
    arguments,
    assigned,
    body_assignments,
    body_nodes,
    bound_arguments,
    calls,
    names_in,
)
from ..source import LOOPS, SourceFile
from .base import Rule, trains
from .retrace import runs_traced, traced_functions

DEPTH = 3  # levels of the module's own helpers followed
ARRAY = "mlx.core.array"


def derived(source: SourceFile, function: ast.AST, given: set[str]) -> set[str]:
    """`given` and the names the function binds (in source order) to values made from them
    by Python alone: a value an MLX op makes (`[mx.sum(g * g) for g in grads]`) is arrays,
    traced like any array argument (fresh40 `accum_clip_tuple_leaves_ok`: a compiled
    gradient-norm clip stacking per-leaf sums with `mx.array(squares)`)."""
    found = set(given)
    for target, value in body_assignments(source, function):
        if names_in(value) & found and not holds_mx_call(source, value):
            found |= set(assigned(target))
    return found


def converts(source: SourceFile, function: ast.AST, given: set[str], depth: int = DEPTH) -> bool:
    """The function builds an array with `mx.array(...)` from one of `given` (its
    parameters), itself or in a helper it hands one to."""
    names = derived(source, function, given)
    for call in calls(body_nodes(source, function)):
        if source.imports.resolve(call.func) == ARRAY and call.args and \
                names_in(call.args[0]) & names:
            return True
        helper = function_of(source, call.func) if depth else None
        if helper is not None and not isinstance(helper, ast.Lambda) and not any(
                isinstance(a, ast.Starred) for a in call.args):
            inner = {p for p, v in bound_arguments(helper, call).items()
                     if v is not None and names_in(v) & names}
            if inner and converts(source, helper, inner, depth - 1):
                return True
    return False


class CompiledConvertsArgument(Rule):
    """MLX114: `loss = train_step(texts, y)` in a loop, where the compiled `train_step` does
    `mx.array(encode(texts))`: each new batch of Python data is a new trace."""

    id = "MLX114"
    anchors = ("compile",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "compile" in text and "array(" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        traced = traced_functions(source)
        for call in source.of_type(ast.Call) if traced else ():
            function = runs_traced(source, call, traced)
            if function is not None and source.enclosing(call, LOOPS) is not None and converts(
                    source, function, arguments(function) - {"self"}):
                yield self.hit(source, call)
