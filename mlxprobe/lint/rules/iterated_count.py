"""MLX281: a loop over a function's parameter that every call of the function binds to an
int (`for batch_idx, batch in batch_size:` with `train_epoch(..., batch_size=batch_size)` and
`batch_size = 16`): an int is not iterable, so the loop raises `TypeError: 'int' object is
not iterable` at its first step, before any update. Meant: the collection the call also
hands over (`enumerate(train_loader)`) or a range (`range(n)`).

Measured (mlx 0.32.4 CPU, failure corpus fresh363 `orchard_crate_gridcells`,
koogle/mlx-playground 40b680d, which iterates `enumerate(train_loader)`): the YOLO-style
loop died at its first batch with that TypeError; with the fix it trained 8 epochs.

Job: a `for` loop or comprehension whose iterable is a plain name that is a parameter of the
enclosing module-level function that the function never rebinds (mlx-vlm's
`is_static_pad` turns an int `stride` into `[stride, stride]` before its loop), where every
known call of that function (`callers.
arguments_for`) hands it an int literal, or a name its caller binds only to int literals.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..callers import arguments_for
from ..finding import Finding
from ..flow import name_values
from ..source import SourceFile
from .base import Rule


def whole_number(node: ast.AST) -> bool:
    """An int literal (not a bool)."""
    return type(node) is ast.Constant and type(node.value) is int


def an_int(source: SourceFile, argument: ast.AST, caller: ast.AST | None) -> bool:
    """`16`, or a name its scope binds only to int literals."""
    if whole_number(argument):
        return True
    if not isinstance(argument, ast.Name):
        return False
    values = name_values(source, argument.id, caller)
    return bool(values) and all(whole_number(v) for v in values)


def iterated_names(source: SourceFile) -> Iterator[ast.Name]:
    """The plain names the module's loops and comprehensions iterate."""
    for node in source.of_type(ast.For, ast.comprehension):
        if isinstance(node.iter, ast.Name):  # type: ignore[attr-defined]
            yield node.iter  # type: ignore[attr-defined]


class IteratedCount(Rule):
    """MLX281: `for batch_idx, batch in batch_size:` where every call passes an int."""

    id = "MLX281"
    anchors = ("for ",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "for " in text and "def " in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for name in iterated_names(source):
            function = source.enclosing(name)
            if function is None or not isinstance(function, ast.FunctionDef):
                continue
            if name_values(source, name.id, function):
                continue  # rebound in the function (`if isinstance(n, int): n = [n, n]`)
            passed = arguments_for(source, function, name.id)
            if passed and all(an_int(source, arg, caller) for arg, caller in passed):
                yield self.hit(source, name)
