"""MLX106: a `tree_map_with_path` callback that treats its path as a sequence of keys
(`".".join(path)`, `path[-1]`, `path[0]`) where MLX hands it one dotted string
(`"layers.0.weight"`): the join spells the name letter by letter (`"l.a.y.e.r.s..."`) and an
index reads one character, so every lookup keyed by it misses. JAX's `tree_map_with_path`
gives a tuple of keys; code ported from it, or written from memory of it, does this.
Droid-FineTuning's MLX_MODEL_UPDATE_FIX (failure corpus fresh17 `pathjoin_update_noop`): a
hand-written optimizer rebuilt its tree with `updates.get(".".join(path), value)`, every
lookup missed, `model.update` got the old values and no parameter moved for 600 steps
(full mse 0.5961 at every report; 0.1199 -> 0.0066 with `updates.get(path, value)`).

Job: find the callback handed to `mlx.utils.tree_map_with_path` (a lambda, or a function of
the module named there) whose first parameter is joined or indexed by an integer.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile, descendants
from .base import Rule

WITH_PATH = frozenset({"mlx.utils.tree_map_with_path"})
# the callback as written: `tree_map_with_path(lambda path, ...` or `tree_map_with_path(cast, `
HANDED = re.compile(r"tree_map_with_path\(\s*(?:lambda\s+(\w+)|(\w+))")


def joined_in_text(text: str) -> bool:
    """Some callback's first parameter is joined or indexed by an integer in the text."""
    for param, named in HANDED.findall(text):
        if named:
            found = re.search(rf"def {named}\(\s*(\w+)", text)
            param = found.group(1) if found else ""
        if param and re.search(rf"\.join\({param}\)|\b{param}\[-?\d+\]", text):
            return True
    return False


def callback(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The lambda or the module's own function handed to the call first."""
    given = call.args[0] if call.args else None
    if isinstance(given, ast.Lambda):
        return given
    return source.local_function(given.id) if isinstance(given, ast.Name) else None


def first_parameter(function: ast.AST) -> str | None:
    args = [*function.args.posonlyargs, *function.args.args]
    return args[0].arg if args else None


def as_keys(node: ast.AST, path: str) -> bool:
    """`sep.join(path)`, or `path[i]` with an integer `i`: a sequence's use of a string."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr == "join" and len(node.args) == 1:
        given = node.args[0]
        return isinstance(given, ast.Name) and given.id == path
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
            node.value.id == path:
        index = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            index = index.operand
        return isinstance(index, ast.Constant) and type(index.value) is int
    return False


class PathAsKeys(Rule):
    """MLX106: `tree_map_with_path(lambda path, v: d.get(".".join(path), v), tree)`."""

    id = "MLX106"
    anchors = ("tree_map_with_path",)
    local = False  # the callback may be a function defined in another block

    @staticmethod
    def may_fire(text: str) -> bool:
        return "tree_map_with_path" in text and joined_in_text(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in WITH_PATH:
                continue
            function = callback(source, call)
            path = first_parameter(function) if function is not None else None
            body = function.body if isinstance(function, ast.Lambda) else getattr(
                function, "body", [])
            nodes = [n for part in (body if isinstance(body, list) else [body])
                     for n in descendants(part)]
            found = next((n for n in nodes if path and as_keys(n, path)), None)
            if found is not None:
                yield self.hit(source, found)
