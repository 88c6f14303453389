"""MLX137: a name bound to a bare generator expression (`l2 = (c * mx.sum(p * p) for p in
ps)`: parentheses where `sum(` was meant) is used as an operand of arithmetic; MLX raises
`ValueError: Cannot perform addition on an mlx.core.array and generator` at the first step.

Measured (mlx 0.32.4 CPU, failure corpus fresh34 `policy_value_l2_genexpr`): an L2 penalty
written as a parenthesised generator made `p_loss + v_loss + l2_loss` raise inside the first
`value_and_grad` call; `sum(...)` around it trained.

Job: find, in one function (or the module's top level), a name whose every binding there is a
generator expression and which is then an operand of `+ - * / ** @`.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments, scope_nodes
from ..source import SourceFile
from .base import Rule

ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.MatMult)


def generators(nodes: list[ast.AST]) -> set[str]:
    """Names bound only to generator expressions among `nodes`."""
    bound: dict[str, list[ast.AST]] = {}
    for target, value in assignments(nodes):
        if isinstance(target, ast.Name):
            bound.setdefault(target.id, []).append(value)
    return {n for n, values in bound.items()
            if all(isinstance(v, ast.GeneratorExp) for v in values)}


class GeneratorOperand(Rule):
    """MLX137: `l2 = (... for p in params)` then `loss + l2`."""

    id = "MLX137"
    anchors = ("= (",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """Some `= (` is followed within 600 characters by ` for ` with more `(` than `)`
        between them (the `for` inside the opened parenthesis)."""
        at = text.find("= (")
        while at >= 0:
            found = text.find(" for ", at, at + 600)
            between = text[at + 2:found] if found >= 0 else ""
            if between.count("(") > between.count(")"):
                return True
            at = text.find("= (", at + 3)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        bound = [a for a in source.of_type(ast.Assign) if isinstance(a.value, ast.GeneratorExp)]
        for scope in dict.fromkeys(source.enclosing(a) or source.tree for a in bound):
            nodes = scope_nodes(source, scope)
            names = generators(nodes)
            if not names:
                continue
            for node in nodes:
                if isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC):
                    yield from (self.hit(source, side) for side in (node.left, node.right)
                                if isinstance(side, ast.Name) and side.id in names)
