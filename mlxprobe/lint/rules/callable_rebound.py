"""MLX244: a name that holds a function (a loss passed in as `loss=grpo_loss`) rebound in the
same function to an MLX array (`loss, toks, metrics = step(batch)`) and then used as the
function again: called, handed to a gradient transformation or `mx.compile`, or passed to one
of the module's own functions that calls it. Python has one name for both: after the first
step the name holds the step's loss, so the next use raises `TypeError: 'array' object is not
callable` (often at the first evaluation, many steps in).

Measured (mlx 0.32.4 CPU, failure corpus fresh246 `lantern_ballot_grpo`, from
Guo-astro/self-adpat-llm-mlx 7317e76, mlx-lm-lora's GRPO trainer layout): the training loop
unpacked each step's loss into `loss`, the trainer's loss-function parameter, and the second
validation pass, `evaluate_grpo(..., loss=loss)`, raised the TypeError; with the step's loss
named `loss_val` it trained. MLX079 is the same mistake with a number (`loss = 0`).

Job: in each function of a training text, a name the dataflow pass sees bound there to an
array, and a use of that name as a function (the function argument of `mx.value_and_grad`,
`nn.value_and_grad`, `mx.grad`, `mx.compile`, `mx.vmap`, or a keyword argument of a
same-module function whose parameter that function calls) that runs after the binding: later
in the text, or anywhere in a loop that also holds the binding (the next pass). A direct call
of the name is MLX079's (a number) or left alone: a text test for it passed most files of the
three packages (1,059 of 1,875, 2.5 s of regex).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import arrays_in, bound_arrays, transformed_arg
from ..finding import Finding
from ..flow import body_assignments, body_nodes, bound_arguments, calls, helper_of, is_inside
from ..source import FUNCTIONS, LOOPS, SourceFile
from .base import TRAINS, Rule, trains

BOUND = re.compile(r"^[ \t]+\(?(\w+)\s*[,=)]", re.MULTILINE)  # an indented line's first target
PASSED = re.compile(r"(?:\w=|value_and_grad\(\w+,\s*|grad\(|compile\(|vmap\()(\w+)\s*[,)]")


class CallableRebound(Rule):
    """MLX244: `loss, toks, metrics = step(batch)` in a loop that passes `loss=loss` on."""

    id = "MLX244"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        """A training text where a name an indented line binds is also passed on by keyword
        or handed to a transformation."""
        return trains(text) and not set(BOUND.findall(text)).isdisjoint(PASSED.findall(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            arrays = arrays_in(source, function)
            own = [n for n in body_nodes(source, function) if source.enclosing(n) is function]
            bindings = self._array_bindings(source, function, arrays)
            for use, name in self._function_uses(source, own):
                if any(self._after(source, binding, use) for binding in bindings.get(name, [])):
                    yield self.hit(source, use)

    @staticmethod
    def _array_bindings(source: SourceFile, function: ast.AST,
                        arrays: set[str]) -> dict[str, list[ast.AST]]:
        """Each name the function itself binds to an array -> the binding targets."""
        found: dict[str, list[ast.AST]] = {}
        for target, value in body_assignments(source, function):
            if source.enclosing(target) is function:
                for name in bound_arrays(source, target, value, arrays):
                    found.setdefault(name, []).append(target)
        return found

    @staticmethod
    def _function_uses(source: SourceFile, nodes: list[ast.AST]) -> Iterator[
            tuple[ast.AST, str]]:
        """(node, name) where a plain name is used as a function."""
        for call in calls(nodes):
            given = transformed_arg(source, call)
            if given is not None and isinstance(given[1], ast.Name):
                yield given[1], given[1].id
            yield from passed_callables(source, call)

    @staticmethod
    def _after(source: SourceFile, binding: ast.AST, use: ast.AST) -> bool:
        """`use` runs after `binding`: later in the text, or in a loop holding both."""
        if (use.lineno, use.col_offset) > (binding.lineno, binding.col_offset):
            return True
        loop = source.enclosing(binding, (*LOOPS, *FUNCTIONS))
        while isinstance(loop, LOOPS):
            if is_inside(source, use, loop):
                return True
            loop = source.enclosing(loop, (*LOOPS, *FUNCTIONS))
        return False


def passed_callables(source: SourceFile, call: ast.Call) -> Iterator[tuple[ast.AST, str]]:
    """Plain names handed by keyword to a same-module function in the place of a parameter it
    calls (a positional one is not read: the text test looks for keywords)."""
    helper = helper_of(source, call)
    if helper is None:
        return
    called = source.cached("called_names", helper, lambda: {
        c.func.id for c in calls(body_nodes(source, helper)) if isinstance(c.func, ast.Name)})
    given = {id(k.value) for k in call.keywords}
    for parameter, value in bound_arguments(helper, call).items():
        if isinstance(value, ast.Name) and parameter in called and id(value) in given:
            yield value, value.id
