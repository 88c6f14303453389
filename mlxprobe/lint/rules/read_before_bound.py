"""MLX245: a function reads one of its own local names before any line of it binds that name
(`per_token_loss = per_token_loss + beta * kl` placed above the line that first computes
`per_token_loss`). Python makes a name local to the whole function when any line assigns
it, so the read raises UnboundLocalError when it runs; in a loss function that is the first
training step, in a branch (`if beta != 0.0:`) only the runs that take it.

Measured (mlx 0.32.4 CPU, failure corpus fresh48 `grpo_kl_order`, after mlx-lm-lora's
grpo_loss): the KL block placed before the PPO clipping step raised UnboundLocalError at the
first step with beta = 0.04; moved below it, the run trained. MLX047 covers names nothing
binds; this is the other half, a name bound only later in its own function.

Job: per function (its own scope: nested functions, classes, lambdas and comprehensions
apart), the position of the first binding of each name (an assignment or `+=` target, a
`for`/`with` target, an import, a nested `def`/`class`, `except ... as`); a read of that
name placed before it, or inside the value of the binding statement itself, is flagged,
unless the read sits in a loop that also binds the name (an earlier iteration may have
bound it), or the name is a parameter or declared `global`/`nonlocal`. Written by hand: no
library here reports it (pyflakes and ruff flag only the global-shadowing case, F823).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import arguments, is_inside
from ..source import FUNCTIONS, SourceFile
from .base import TRAINS, Rule
from .base import trains as may_train

APART = (*FUNCTIONS, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
         ast.GeneratorExp)
LOOPS = (ast.For, ast.AsyncFor, ast.While)
Position = tuple[int, int]


def own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of the function's own scope: nested scopes are yielded but not entered."""
    stack = list(reversed(function.body))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, APART):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def binder_names(node: ast.AST) -> list[str]:
    """The names one node binds in the scope it sits in."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, (*FUNCTIONS, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    if isinstance(node, ast.ExceptHandler) and node.name:
        return [node.name]
    return []


def first_bindings(nodes: list[ast.AST]) -> dict[str, ast.AST]:
    """Each name's binding node placed first in the text."""
    found: dict[str, ast.AST] = {}
    for node in nodes:
        for name in binder_names(node):
            if name not in found or position(node) < position(found[name]):
                found[name] = node
    return found


def position(node: ast.AST) -> Position:
    return node.lineno, node.col_offset


def declared(nodes: list[ast.AST]) -> set[str]:
    return {n for node in nodes if isinstance(node, (ast.Global, ast.Nonlocal))
            for n in node.names}


class ReadBeforeBound(Rule):
    """MLX245: `per_token_loss = per_token_loss + beta * kl` above the first line that binds
    `per_token_loss` in the same function."""

    id = "MLX245"
    anchors = TRAINS
    local = True  # one function's own lines

    @staticmethod
    def may_fire(text: str) -> bool:
        return may_train(text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """Every block that defines a function: the rule reads each function alone."""
        return lambda block: "def " in block

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            yield from (self.hit(source, read) for read in self._early(source, function))

    def _early(self, source: SourceFile, function: ast.AST) -> Iterator[ast.Name]:
        nodes = list(own_nodes(function))
        firsts = first_bindings(nodes)
        skip = arguments(function) | declared(nodes) | {
            a.arg for a in (function.args.vararg, function.args.kwarg) if a}
        reported: set[str] = set()
        for node in nodes:
            if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                    and node.id in firsts and node.id not in skip | reported
                    and self._before(source, node, firsts[node.id])):
                reported.add(node.id)
                yield node
            elif self._first_augmented(source, node, firsts, skip):
                yield node.target

    @staticmethod
    def _first_augmented(source: SourceFile, node: ast.AST, firsts: dict[str, ast.AST],
                         skip: set[str]) -> bool:
        """`total += x` as the name's first binding, in no loop of the function: it reads
        `total` first."""
        if not (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)):
            return False
        loop = source.enclosing(node, (*LOOPS, *FUNCTIONS))
        return (firsts.get(node.target.id) is node.target and node.target.id not in skip
                and not isinstance(loop, LOOPS))

    @staticmethod
    def _before(source: SourceFile, read: ast.Name, binder: ast.AST) -> bool:
        """`read` runs before `binder` binds, and no loop around it binds the name too."""
        statement = binder
        while not isinstance(statement, ast.stmt):
            statement = source.parents[statement]
        value = getattr(statement, "value", None) if isinstance(
            statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)) else None
        early = position(read) < position(statement) or (
            value is not None and is_inside(source, read, value))
        loop = source.enclosing(read, LOOPS)
        while early and loop is not None and source.enclosing(loop) is source.enclosing(read):
            if any(read.id in binder_names(n) for n in ast.walk(loop)):
                return False
            loop = source.enclosing(loop, LOOPS)
        return early
