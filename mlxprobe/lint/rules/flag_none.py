"""MLX206: a flag bound only to True or False tested against None (`if self.gemma is not
None:` where `gemma: bool = False`): False is not None, so the test gives the same answer for
both values of the flag and the branch it guards always runs (or never does). In a model's
forward pass that picks the wrong head, layer or mask for every configuration.

Measured (mlx 0.32.4 CPU, failure corpus fresh193 `shanty_charlm_headswitch`, mlx-llm
b792688): a char LM built with `gemma=False` chose its output projection with `if self.gemma
is not None:`, so it always used the tied embedding and its own `head` never changed (8 looks
over 92 steps); `if self.gemma:` trains the head.

Job: a comparison `x is None` / `x is not None` (alone) where `x` is `self.attr` and every
binding of the attribute in its class is a bool (`True`/`False`, a comparison, `not ...`) or a
parameter of its method that defaults to `True`/`False` (annotated `bool` or not at all; an
`Optional[bool]` may hold None on purpose), or `x` is such a parameter of the enclosing
function that the function never rebinds.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import (
    assigned,
    assignments,
    attributes_bound_only,
    defaults,
    none_compared,
    self_attr,
    walk,
)
from ..markers import bound_before
from ..source import FUNCTIONS, SourceFile
from .base import Rule

# a name bound to a bool default: `flag=False`, `flag = True`, `flag: bool = False`
MARKERS = tuple(f"{sep}{value}" for sep in ("=", " = ", ": bool = ", ": bool=")
                for value in ("False", "True"))


class FlagTestedAgainstNone(Rule):
    """MLX206: `flag is not None` where the flag is only ever True or False."""

    id = "MLX206"
    anchors = (" is not None", " is None")
    local = True  # reads one class or function

    @staticmethod
    def may_fire(text: str) -> bool:
        if " is not None" not in text and " is None" not in text:
            return False
        names = {n for marker in MARKERS for n in bound_before(text, marker)}
        return not names.isdisjoint(
            {*bound_before(text, " is not None"), *bound_before(text, " is None")})

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Compare):
            tested = none_compared(node, (ast.Is, ast.IsNot))
            if tested is not None and only_bool(source, tested):
                yield self.hit(source, node)


def only_bool(source: SourceFile, tested: ast.AST) -> bool:
    """`self.attr` bound only to bools in its class, or a bool-defaulted parameter."""
    attr = self_attr(tested)
    if attr is not None:
        cls = source.enclosing(tested, (ast.ClassDef,))
        return isinstance(cls, ast.ClassDef) and attr in attributes_bound_only(
            source, cls, lambda method, value: boolean(method, value))
    function = source.enclosing(tested, FUNCTIONS)
    return isinstance(tested, ast.Name) and function is not None \
        and flag_parameter(function, tested.id) and not any(
            tested.id in assigned(t) for t, _ in assignments(walk(function.body)))


def boolean(method: ast.AST, value: ast.AST) -> bool:
    """A bool: `True`/`False`, a comparison, `not ...`, or a bool-defaulted parameter."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, bool)
    if isinstance(value, (ast.Compare, ast.UnaryOp)):
        return isinstance(value, ast.Compare) or isinstance(value.op, ast.Not)
    return isinstance(value, ast.Name) and flag_parameter(method, value.id)


def flag_parameter(function: ast.AST, name: str) -> bool:
    """A parameter of `function` defaulting to True/False, annotated `bool` or not at all."""
    default = defaults(function).get(name)
    if not (isinstance(default, ast.Constant) and isinstance(default.value, bool)):
        return False
    args = function.args  # type: ignore[attr-defined]
    annotation = next((a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
                       if a.arg == name), None)
    return annotation is None or isinstance(annotation, ast.Name) and annotation.id == "bool"
