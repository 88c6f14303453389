"""MLX197: an optimizer's per-parameter state read with `state.get("k", default)` under a key
that nothing in the class ever writes (`state["k"] = ...`), while it writes its other keys:
the read falls back to its default at every step, silently. A hand-written optimizer whose
`apply_single` reads `state.get("s", zeros)` and writes `state["u"]` keeps that state at zero
for the whole run.

Measured (mlx 0.32.4 CPU, failure corpus fresh184 `hivescale_forage_adadelta`, mlx's own
AdaDelta before 601c6d6): the accumulated-update state, read as "s" and written as "u",
stayed zero, each update ~sqrt(eps) = 1e-3, and after 36 epochs the held-out RMSE was the
mean predictor's (443.6 against 445.8 g/day); read as "u", 190.9 g/day by the end.

Job: in each class, the functions that take a parameter named `state` (`init_single`,
`apply_single`): the string keys they write (`state["k"] = v`, `state["k"] += v`,
`state.setdefault("k", ...)`, a dict display bound to `state`) and those they read with
`state.get("k", default)`; a read key written nowhere in the class fires, when the class
writes at least one key (so its state is its own).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import FUNCTIONS, SourceFile
from .base import Rule

STATE = "state"


def takes_state(function: ast.AST) -> bool:
    return any(a.arg == STATE for a in function.args.args)


def key(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def on_state(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == STATE


def written(nodes: list[ast.AST]) -> set[str]:
    """Keys stored: `state["k"] = v` (or augmented), `state.setdefault("k", v)`."""
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Subscript) and on_state(node.value) and isinstance(
                node.ctx, ast.Store) and key(node.slice) is not None:
            found.add(key(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "setdefault" and on_state(node.func.value) and node.args:
            found.add(key(node.args[0]) or "")
    return found


def defaulted_reads(nodes: list[ast.AST]) -> list[tuple[ast.Call, str]]:
    """`state.get("k", default)` calls and their keys."""
    return [(n, key(n.args[0])) for n in nodes if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and n.func.attr == "get"
            and on_state(n.func.value) and len(n.args) == 2 and key(n.args[0]) is not None]


def whole_state_rebound(nodes: list[ast.AST]) -> bool:
    """`state.update(...)`, or `state` handed to a call: keys it cannot see are written."""
    return any(isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Attribute) and n.func.attr == "update"
         and on_state(n.func.value)) or any(on_state(a) for a in n.args))
        for n in nodes)


class StateKeyNeverWritten(Rule):
    """MLX197: `u = state.get("s", zeros)` where the class only ever writes `state["u"]`."""

    id = "MLX197"
    anchors = ("state.get(",)
    local = True  # reads one class

    @staticmethod
    def may_fire(text: str) -> bool:
        return "state.get(" in text and "state[" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in source.of_type(ast.ClassDef):
            functions = [f for f in cls.body if isinstance(f, FUNCTIONS) and takes_state(f)]
            nodes = [n for f in functions for n in ast.walk(f)]
            keys = written(nodes)
            if not keys or whole_state_rebound(nodes):
                continue
            for call, name in defaulted_reads(nodes):
                if name not in keys:
                    yield self.hit(source, call)
