"""MLX158: a test on the size of an axis the line before has just set: `x = x[None, :]`
(or `mx.expand_dims(x, 0)`, `x.reshape(1, ...)`) and then `if x.shape[0] == 1:`. The new
leading axis has size 1 whatever the input was, so the test is decided before it runs: the
branch always runs (or never does), and whatever it guards, most often a fallback, replaces
the normal path.

Measured (mlx 0.32.4 CPU, failure corpus fresh49 `corridor_dqn_exploit`, mario-rl-mlx
d2b4a70): a DQN's exploit branch unsqueezed the state and then returned a random action
`if state.shape[0] == 1`, always: the agent never followed its Q-network, its mean episode
reward stayed at the random walk's -0.05 to -0.18 over 160 episodes (0.89 once fixed).

Job: in one block, an assignment of a name to an expression that sets its axis 0 to 1,
followed (before the name is bound again) by an `if`/`while`/`assert` or a conditional
expression comparing `name.shape[0]` with a number. Must not import: mlx, anything of
mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import bound
from ..source import SourceFile
from .base import Rule

TESTS = (ast.If, ast.While, ast.Assert)
# `x = <...>[None` / `x = ...expand_dims(` / `x = ....reshape(1,` on one line: the bound name
EXPANDED = re.compile(r"^[ \t]*(\w+) = [^\n]*(?:\[None|expand_dims\(|reshape\(1,)", re.MULTILINE)
EXPAND = frozenset({"mlx.core.expand_dims", "numpy.expand_dims"})


def leading_one(source: SourceFile, value: ast.AST) -> bool:
    """`x[None]`, `x[None, :]`, `expand_dims(x, 0)`, `x.reshape(1, ...)`."""
    if isinstance(value, ast.Subscript):
        first = value.slice.elts[0] if isinstance(value.slice, ast.Tuple) and \
            value.slice.elts else value.slice
        return isinstance(first, ast.Constant) and first.value is None
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if source.imports.resolve(func) in EXPAND:
        axis = value.args[1] if len(value.args) > 1 else next(
            (k.value for k in value.keywords if k.arg == "axis"), None)
        return isinstance(axis, ast.Constant) and axis.value == 0
    return (isinstance(func, ast.Attribute) and func.attr == "reshape" and len(value.args) > 1
            and isinstance(value.args[0], ast.Constant) and value.args[0].value == 1)


def tests_axis0(test: ast.AST, name: str) -> bool:
    """`name.shape[0] == 1` (any comparison with a number, either side)."""
    for node in ast.walk(test):
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            sides = (node.left, node.comparators[0])
            if any(_axis0(s, name) for s in sides) and any(
                    isinstance(s, ast.Constant) and type(s.value) is int for s in sides):
                return True
    return False


def _axis0(node: ast.AST, name: str) -> bool:
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and node.slice.value == 0 and isinstance(node.value, ast.Attribute)
            and node.value.attr == "shape" and isinstance(node.value.value, ast.Name)
            and node.value.value.id == name)


class ConstantShapeTest(Rule):
    """MLX158: `state = state[None, :]` then `if state.shape[0] == 1:`."""

    id = "MLX158"
    anchors = ("shape[0]",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """A name bound to an expansion and then its `.shape[0]` compared (text only)."""
        if not any(f"shape[0] {op}" in text for op in ("==", "!=", "<", ">")) or not (
                "[None" in text or "expand_dims(" in text or "reshape(1" in text):
            return False
        return any(f"{name}.shape[0] " in text for name in EXPANDED.findall(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for statement in source.of_type(ast.Assign):
            if (len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)
                    and leading_one(source, statement.value)):
                yield from self._after(source, statement, statement.targets[0].id)

    def _after(self, source: SourceFile, statement: ast.Assign, name: str
               ) -> Iterator[Finding]:
        """The tests of `name.shape[0]` in the statements after `statement` in its block,
        up to the next binding of `name`."""
        block = next((b for f in ("body", "orelse", "finalbody")
                      if isinstance(b := getattr(source.parents.get(statement), f, None), list)
                      and statement in b), [])
        for later in block[block.index(statement) + 1:] if block else []:
            if isinstance(later, TESTS) and tests_axis0(later.test, name):
                yield self.hit(source, later)
            if name in rebinds(later):
                break


def rebinds(statement: ast.AST) -> set[str]:
    """Names a statement binds (anywhere in it)."""
    return {n for node in ast.walk(statement) for n in bound(node)}
