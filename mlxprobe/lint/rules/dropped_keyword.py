"""MLX277: a function that never reads one of its parameters passes that same keyword on
as a literal (`def loss_fn(..., reduction="mean")` calling `compute_loss(...,
reduction="mean")`) while a caller hands it another value (`loss_fn(..., reduction="none")`):
the caller's value is dropped, and the function computes what the literal says.

Measured (mlx 0.32.4 CPU, failure corpus fresh351 `ledger_quay_span`, plpxsk/bert-qa
108f4b1 "fix data flow of function arguments"): an evaluation asked `loss_fn` for
per-example losses (`reduction="none"`), summed them and divided by the number of examples;
`loss_fn` passed `reduction="mean"` on, so each batch added one batch mean and the reported
validation loss was ~1/32 of the true one (0.017 against 0.548, untrained 0.118 against a
uniform guess of 3.332). Forwarding `reduction=reduction` gave the true values.

Job: for each call that passes a keyword as a constant, the nearest function around it that
takes that parameter (no `*args`/`**kwargs`) and never reads it, when a call of that
function elsewhere in the module passes the keyword another constant.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import arguments, body_nodes
from ..names import last_name
from ..source import SourceFile
from .base import Rule


def literal_keywords(call: ast.Call) -> dict[str, object]:
    """The keywords a call passes as constants (`reduction="mean"`)."""
    return {k.arg: k.value.value for k in call.keywords
            if k.arg and type(k.value) is ast.Constant}


def dropped(source: SourceFile, call: ast.Call) -> Iterator[tuple[ast.AST, str, object]]:
    """(function, keyword, constant) for each keyword `call` passes as a constant that the
    nearest function around it taking that parameter (no `*args`/`**kwargs`) never reads."""
    for name, value in literal_keywords(call).items():
        function = source.enclosing(call)
        while function is not None and name not in parameters(function):
            function = source.enclosing(function)
        if function is not None and not any(
                type(n) is ast.Name and n.id == name and type(n.ctx) is ast.Load
                for n in body_nodes(source, function)):
            yield function, name, value


def parameters(function: ast.AST) -> set[str]:
    """The names a function takes; none for one with `*args` or `**kwargs`."""
    args = function.args  # type: ignore[attr-defined]
    return set() if args.vararg or args.kwarg else arguments(function)


def callers_differ(source: SourceFile, name: str, keyword: str, value: object) -> bool:
    """A call of the function `name` in the module passes `keyword` another constant."""
    return any(last_name(c.func) == name and keyword in (given := literal_keywords(c))
               and given[keyword] != value for c in source.of_type(ast.Call))


class KeywordDropped(Rule):
    """MLX277: a parameter never read, its keyword passed on as a literal, while a caller
    gives it another value."""

    id = "MLX277"
    anchors = ("def ",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "def " in text and "=" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            for function, keyword, value in dropped(source, call) if call.keywords else ():
                if callers_differ(source, function.name, keyword, value):  # type: ignore
                    yield self.hit(source, call)
