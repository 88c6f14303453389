"""MLX278: a constant key read (`metrics["loss"]`) from what one of the module's own functions
returned, when every dict that function returns is built with other keys: the literal keys
of a display (`return {"eval_loss": ..., "eval_acc": ...}`) or the constant prefix of a
comprehension's f-string keys (`return {f"eval_{k}": v for k, v in avg.items()}`). The read
raises KeyError the first time it runs, typically after a whole epoch of training.

Measured (mlx 0.32.4 CPU, failure corpus fresh352 `quarry_ledger_patience`,
parkerdgabel/bert-playground 3743ad7): a trainer's `evaluate()` returned its averages with
every key prefixed `eval_` while `train()` read `val_metrics["loss"]` right after the first
evaluation: KeyError: 'loss' after the first epoch's 1,200 steps. Reading
`val_metrics.get("eval_loss", ...)` trained to the end.

Job: for each `name["key"]` read in a function, when `name` is bound once there, to a call
of the module's own function (`flow.callee`: one function of that name), that function's
every return is a dict display with constant keys or a comprehension with an f-string key
that opens with a constant, and `"key"` is none of those keys and opens with none of those
prefixes; not when the function never writes into `name` (`name[k] = v`, `name.update`,
`setdefault`) or tests the key (`"key" in name`), nor when the read sits in a `try`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, callee, name_values
from ..source import FUNCTIONS, SourceFile
from .base import Rule

WRITERS = frozenset({"update", "setdefault", "pop", "clear", "__setitem__"})


def constant_key(node: ast.Subscript) -> str | None:
    """`"loss"` of `metrics["loss"]`, read from a plain name."""
    key = node.slice
    if isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name) and \
            type(key) is ast.Constant and isinstance(key.value, str):
        return key.value
    return None


def dict_keys(value: ast.AST) -> tuple[set[str], set[str]] | None:
    """(literal keys, key prefixes) a returned dict is built with, or None when unknown."""
    if isinstance(value, ast.Dict) and value.keys and all(
            type(k) is ast.Constant and isinstance(k.value, str) for k in value.keys):
        return {k.value for k in value.keys}, set()  # type: ignore[union-attr]
    if isinstance(value, ast.DictComp) and isinstance(value.key, ast.JoinedStr):
        first = value.key.values[0] if value.key.values else None
        if type(first) is ast.Constant and isinstance(first.value, str) and first.value:
            return set(), {first.value}
    return None


def returned_keys(function: ast.AST) -> tuple[set[str], set[str]] | None:
    """The keys and prefixes of every dict a function returns, or None when one return is
    no such dict (or the function yields)."""
    keys: set[str] = set()
    prefixes: set[str] = set()
    nodes = [n for n in ast.walk(function) if isinstance(n, (ast.Return, ast.Yield,
                                                                ast.YieldFrom))]
    for node in nodes:
        built = dict_keys(node.value) if isinstance(node, ast.Return) and node.value else None
        if built is None:
            return None
        keys |= built[0]
        prefixes |= built[1]
    return (keys, prefixes) if nodes else None


def absent(key: str, built: tuple[set[str], set[str]]) -> bool:
    keys, prefixes = built
    return key not in keys and not any(key.startswith(p) for p in prefixes)


def touched(nodes: list[ast.AST], name: str, key: str) -> bool:
    """The scope writes into `name` or tests `key` against it."""
    for node in nodes:
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
                node.value.id == name and not isinstance(node.ctx, ast.Load):
            return True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == name and node.attr in WRITERS:
            return True
        if isinstance(node, ast.Compare) and any(
                type(c) is ast.Constant and c.value == key for c in [node.left, *node.comparators]):
            return True
    return False


def in_try(source: SourceFile, node: ast.AST) -> bool:
    """The read sits in a `try` inside its function."""
    return isinstance(source.enclosing(node, (ast.Try, *FUNCTIONS)), ast.Try)


def producer(source: SourceFile, read: ast.Subscript) -> ast.AST | None:
    """The module's own function whose call is the read name's one binding in its scope."""
    scope = source.enclosing(read)
    values = name_values(source, read.value.id, scope)  # type: ignore[attr-defined]
    if len(values) != 1 or not isinstance(values[0], ast.Call):
        return None
    return callee(source, values[0])


class KeyNeverReturned(Rule):
    """MLX278: a constant key read from a function's returned dict that is built without
    that key."""

    id = "MLX278"
    anchors = ("return {",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "return {" in text and ('["' in text or "['" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for read in source.of_type(ast.Subscript):
            key = constant_key(read)  # type: ignore[arg-type]
            found = producer(source, read) if key is not None else None  # type: ignore
            built = returned_keys(found) if found is not None else None
            if built and absent(key, built) and not self.excused(source, read, key):  # type: ignore
                yield self.hit(source, read)

    @staticmethod
    def excused(source: SourceFile, read: ast.Subscript, key: str) -> bool:
        scope = source.enclosing(read)
        nodes = body_nodes(source, scope) if scope is not None else list(ast.walk(source.tree))
        return touched(nodes, read.value.id, key) or in_try(source, read)  # type: ignore
