"""MLX213: a parameter that defaults to None used in arithmetic before the line that replaces
its None: `coef_2 = mx.clip(coef_1, 1 - eps, 1 + eps_high)` above `eps_high = eps_high if
eps_high else eps`. Called with the default, the arithmetic meets None and raises TypeError
(unsupported operand type(s) for +: 'int' and 'NoneType').

Measured (mlx 0.32.4 CPU, failure corpus fresh197 `quill_grpo_lateclip`, mlx-lm-lora 4383c0c):
a GRPO loss clipped its importance ratio with `1 + epsilon_high` one line before defaulting
`epsilon_high` to `epsilon`; with `epsilon_high=None` the first step raised TypeError; with the
early clip removed, it trained.

Job: in a function, a parameter whose default is None, and a later top-level statement of
the body that rebinds it from a value reading it (`p = p if p else q`, `p = p or q`,
`if p is None: p = q`, a guard); before that guard, the parameter as an operand of an
arithmetic operator (`+ - * / // % **`) anywhere in an earlier top-level statement that is
not itself under a test of the parameter.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assigned, assignments, defaults, names_in
from ..markers import bound_before
from ..source import FUNCTIONS, SourceFile
from .base import Rule


class DefaultUsedBeforeGuard(Rule):
    """MLX213: a None-defaulted parameter in arithmetic above the line that replaces None."""

    id = "MLX213"
    anchors = ("=None", "= None")
    local = True  # reads one function

    @staticmethod
    def may_fire(text: str) -> bool:
        names = {n for marker in ("=None", "= None") for n in bound_before(text, marker)}
        return any((f"+ {n}" in text or f"{n} +" in text or f"* {n}" in text
                    or f"- {n}" in text) and (f"{n} = {n} " in text or f"if {n} is None" in text)
                   for n in names)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            for name, default in defaults(function).items():
                if isinstance(default, ast.Constant) and default.value is None:
                    use = used_before_guard(function.body, name)
                    if use is not None:
                        yield self.hit(source, use)


def used_before_guard(body: list[ast.stmt], name: str) -> ast.AST | None:
    """The first arithmetic use of `name` above the guard that replaces its None."""
    guard = next((i for i, s in enumerate(body) if guards(s, name)), None)
    if guard is None:
        return None
    for statement in body[:guard]:
        if any(name in assigned(t) for t, _ in assignments([statement])) or tests(
                statement, name):
            return None
        use = arithmetic_use(statement, name)
        if use is not None:
            return use
    return None


def guards(statement: ast.stmt, name: str) -> bool:
    """`name = <reads name>` or `if <tests name>: name = ...`."""
    if isinstance(statement, ast.If) and name in names_in(statement.test):
        return any(name in assigned(t) for t, _ in assignments(statement.body))
    return any(name in assigned(t) and name in names_in(v)
               for t, v in assignments([statement]))


def tests(statement: ast.stmt, name: str) -> bool:
    """A compound statement whose test reads `name` (its uses may be guarded)."""
    test = getattr(statement, "test", None)
    return test is not None and name in names_in(test)


def arithmetic_use(statement: ast.stmt, name: str) -> ast.AST | None:
    """A binary arithmetic operation with `name` as an operand, outside a conditional
    expression that tests it."""
    for node in ast.walk(statement):
        if isinstance(node, ast.IfExp) and name in names_in(node.test):
            return None
        if isinstance(node, ast.BinOp) and not isinstance(node.op, (ast.BitOr, ast.BitAnd)) \
                and any(isinstance(side, ast.Name) and side.id == name
                        for side in (node.left, node.right)):
            return node
    return None
