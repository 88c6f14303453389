"""MLX079: a name called in a function that binds the same name to a number: the call reaches
the number (`TypeError: 'int' object is not callable`), not the function it meant.

Job: in a function, find a call `name(...)` where the function itself binds `name` to a
number (`loss = 0` on its own line): Python makes `name` local to the whole function,
so the call never reaches the module's function of that name. Training code reuses `loss`
for an accumulator beside a `loss` function more than any other name. Measured (mlx 0.32.4
CPU, failure corpus fresh8 `b8_eval_loss_name_shadowed`, mlx-examples PR 433): training ran
80 iterations, then the first evaluation raised `TypeError: 'int' object is not callable`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments, body_nodes, calls
from ..source import FUNCTIONS, SourceFile
from .base import Rule

# ` = 0` closing an indented line (a literal " = " first: a leading `\w+` made the scan 6x
# slower over the three packages)
NUMBER_END = re.compile(r" = -?\d[\d.]*[ \t]*\n")


def called(text: str, name: str) -> bool:
    """`name(` occurs in the text, not as the tail of a longer name or an attribute."""
    at = text.find(name + "(")
    while at != -1:
        if at == 0 or not (text[at - 1].isalnum() or text[at - 1] in "_."):
            return True
        at = text.find(name + "(", at + 1)
    return False


def number_names(text: str) -> set[str]:
    """Names an indented line binds to a number literal (`    loss = 0`)."""
    found = set()
    for match in NUMBER_END.finditer(text):
        line = text[text.rfind("\n", 0, match.start()) + 1:match.start()]
        name = line.strip()
        if name.isidentifier() and line[:1] in (" ", "\t"):
            found.add(name)
    return found


def number(node: ast.AST) -> bool:
    """A literal number, or arithmetic of literal numbers (`0`, `0.0`, `-1`, `2 * 3`)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return number(node.operand)
    return isinstance(node, ast.BinOp) and number(node.left) and number(node.right)


class CalledNumber(Rule):
    """MLX079: `loss = 0` and `loss(...)` in one function."""

    id = "MLX079"
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """A name bound on its own line to a number literal, and a call of that name."""
        return any(called(text, name) for name in number_names(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            nodes = body_nodes(source, function)
            numbers = {t.id for t, v in assignments(nodes) if isinstance(t, ast.Name)
                       and number(v)}
            for call in calls(nodes):
                if isinstance(call.func, ast.Name) and call.func.id in numbers:
                    yield self.hit(source, call)
