"""MLX251: a dict built up over a loop and rebuilt in it: `out = {}` before `for key in
("chosen", "rejected"):`, then `out = {f"{key}_tokens": ..., f"{key}_masks": ...}` inside,
and `out` read after the loop. The keys name the loop's variable, so each pass meant to add
its own entries; the assignment replaces the dict, and after the loop only the last pass's
keys are there.

Measured (mlx 0.32.4 CPU, failure corpus fresh81 `dpo_pair_batch_keys`): a DPO pair batcher
padded the chosen and the rejected halves in a loop over the two keys and rebuilt `out` in
it: the loss read `batch["chosen_tokens"]` and raised KeyError at the first step; with
`out[f"{key}_tokens"] = ...` it trained.

Job: per loop of a function, a name bound to an empty dict (`{}`, `dict()`) before the loop
in the same function, rebound inside the loop (a plain assignment) to a dict display whose
keys read the loop's target, not read inside the loop after that (a per-pass value), and read
after the loop.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, names_in
from ..source import FUNCTIONS, SourceFile
from .base import Rule


def empty_dict(node: ast.AST) -> bool:
    return (isinstance(node, ast.Dict) and not node.keys) or (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id == "dict" and not node.args and not node.keywords)


def targets(node: ast.Assign | ast.AnnAssign) -> list[ast.AST]:
    """`out = {}` and `out: Dict[str, mx.array] = {}` alike."""
    return node.targets if isinstance(node, ast.Assign) else [node.target]


def names_read(nodes: list[ast.AST], name: str) -> list[ast.Name]:
    return [n for n in nodes if isinstance(n, ast.Name) and n.id == name
            and isinstance(n.ctx, ast.Load)]


def loops_around(source: SourceFile, node: ast.AST) -> Iterator[ast.For]:
    """Each `for` statement that holds `node`, innermost first."""
    parent = source.parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.For):
            yield parent
        parent = source.parents.get(parent)


class ReboundAccumulator(Rule):
    """MLX251: `out = {}`; `for key in keys: out = {f"{key}_tokens": ...}`; `return out`."""

    id = "MLX251"
    anchors = ("= {}", "dict()")
    local = True  # one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("= {}" in text or "dict()" in text) and "for " in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and isinstance(node.value, ast.Dict):
                for loop in loops_around(source, node):
                    if self._rebuilt(source, loop, node):
                        yield self.hit(source, node)

    def _rebuilt(self, source: SourceFile, loop: ast.For, node: ast.Assign) -> bool:
        """`node` (`name = {...}`) keys its dict by the loop's target, in a function, after
        an empty `name = {}` there, and `name` is read after the loop only."""
        function = source.enclosing(loop)
        keys = names_in(loop.target)
        name = node.targets[0].id  # type: ignore[attr-defined]
        return isinstance(function, FUNCTIONS) and any(
            k is not None and names_in(k) & keys for k in node.value.keys) \
            and self._started_empty(source, function, loop, name) \
            and self._read_after(source, function, loop, node, name)

    @staticmethod
    def _started_empty(source: SourceFile, function: ast.AST, loop: ast.For, name: str) -> bool:
        return any(n.lineno < loop.lineno and empty_dict(n.value) and any(
            isinstance(t, ast.Name) and t.id == name for t in targets(n))
            for n in body_nodes(source, function) if isinstance(n, (ast.Assign, ast.AnnAssign)))

    @staticmethod
    def _read_after(source: SourceFile, function: ast.AST, loop: ast.For, node: ast.Assign,
                    name: str) -> bool:
        """Read after the loop, and not in the loop after the rebinding."""
        end = loop.end_lineno or loop.lineno
        reads = names_read(body_nodes(source, function), name)
        in_loop = [r for r in reads if loop.lineno <= r.lineno <= end]
        return not any(r.lineno > node.lineno for r in in_loop) and any(
            r.lineno > end for r in reads)
