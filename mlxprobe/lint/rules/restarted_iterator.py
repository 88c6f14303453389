"""MLX176: an exhausted iterator restarted into another name: `try: x = next(it)` with
`except StopIteration: fresh = make_iter(...); x = next(fresh)` and no `it = ...` in the
handler. `it` stays exhausted, so every later `next(it)` raises again and the handler serves
the first item of a new iterator each time: after the first pass over the data, the model
sees one batch (or one chunk) over and over.

Measured (mlx 0.32.4 CPU, failure corpus fresh102 `shard_restart_first_chunk`, from
AnarchoBot commit 314cfa8, whose fix binds the restarted iterator back to the loop's name
with `nonlocal`): a tiny byte-level LM's training loss fell 3.18 -> 0.043 on the repeated
first chunk while its val loss rose 3.18 -> 9.78; fixed, train 3.18 -> 2.12 and val 3.18 ->
2.73.

Job: each `try` whose body calls `next(A)` on a plain name and one of whose `except`
handlers (catching StopIteration, or everything) binds a plain name B != A to a call and
calls `next(B)`, while no statement of that handler binds A.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments, walk
from ..source import SourceFile
from .base import Rule


def next_names(nodes: list[ast.AST]) -> set[str]:
    """The plain names `next(...)` is called on among `nodes` (not entering functions)."""
    return {call.args[0].id for call in walk(nodes)
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "next" and call.args and isinstance(call.args[0], ast.Name)}


def catches_stop(handler: ast.ExceptHandler) -> bool:
    """`except StopIteration`, `except (StopIteration, ...)` or a bare `except`."""
    kind = handler.type
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return kind is None or any(isinstance(k, ast.Name) and k.id in (
        "StopIteration", "Exception", "BaseException") for k in kinds)


def bindings(handler: ast.ExceptHandler) -> list[tuple[ast.Name, ast.AST]]:
    """(target, value) of each plain name the handler binds."""
    return [(target, value) for target, value in assignments(walk(handler.body))
            if isinstance(target, ast.Name)]


class RestartedIteratorLost(Rule):
    """MLX176: `except StopIteration: fresh = make(); next(fresh)` while `next(it)` stays."""

    id = "MLX176"
    anchors = ("StopIteration",)
    local = True  # one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "StopIteration" in text and "next(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Try):
            read = next_names(node.body)
            for handler in node.handlers:
                if read and catches_stop(handler):
                    yield from self._lost(source, handler, read)

    def _lost(self, source: SourceFile, handler: ast.ExceptHandler,
              read: set[str]) -> Iterator[Finding]:
        bound = bindings(handler)
        if read & {target.id for target, _ in bound}:
            return  # the exhausted name is bound again: the restart holds
        made = {target.id: target for target, value in bound if isinstance(value, ast.Call)}
        for name in sorted(next_names(handler.body) & set(made)):
            yield self.hit(source, made[name])  # a new iterator, read under another name
