"""MLX039: a Python number inside the dict handed to `mx.value_and_grad`/`mx.grad` as the
argument it differentiates (`params = {"w": ..., "temperature": 0.1}`): MLX flattens that
argument and accepts only arrays, so the first step raises ValueError.

Job: find the names bound to `mx.value_and_grad(f)`/`mx.grad(f)` (no argnums), the dict
literal bound to the name each call passes first, and a number among its values, or among
the items the module's own builder function stores in the dict it returns.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import returns_of
from ..finding import Finding
from ..flow import assignments, body_nodes, bound_arguments, helper_of
from ..source import SourceFile
from .base import DIFFERENTIATES, Rule, differentiates

TRANSFORMS = frozenset({"mlx.core.value_and_grad", "mlx.core.grad"})


def number(node: ast.AST) -> bool:
    """`0.1`, `-3`, `True`: a Python scalar where an array belongs."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float))


def transform(source: SourceFile, node: ast.AST) -> bool:
    """`mx.value_and_grad(f)` or `mx.grad(f)` differentiating its first argument only."""
    return isinstance(node, ast.Call) and source.imports.resolve(node.func) in TRANSFORMS and (
        not any(k.arg == "argnums" for k in node.keywords)) and len(node.args) == 1


def built_numbers(source: SourceFile, name: str) -> list[ast.AST]:
    """The Python numbers a dict bound to `name` gets from the module's own builder: `name =
    init(..., temperature=0.7)` where `init` stores its argument (`params["t"] = t`) in the
    dict it returns; the item stored is reported."""
    found: list[ast.AST] = []
    for target, value in assignments(source.of_type(ast.Assign)):
        builder = helper_of(source, value) if isinstance(target, ast.Name) and (
            target.id == name and isinstance(value, ast.Call)) else None
        if builder is None or isinstance(builder, ast.Lambda):
            continue
        given = {k: v for k, v in bound_arguments(builder, value).items() if v is not None}
        returned = {r.id for r in returns_of(builder) if isinstance(r, ast.Name)}
        for node in body_nodes(source, builder):
            target = node.targets[0] if isinstance(node, ast.Assign) else None
            stored = node.value if isinstance(target, ast.Subscript) and isinstance(
                target.value, ast.Name) and target.value.id in returned else None
            if stored is not None and (number(stored) or isinstance(stored, ast.Name)
                                       and number(given.get(stored.id, stored))):
                found.append(node)
    return found


class NumberInDifferentiatedTree(Rule):
    """MLX039: `grad_fn(params, x)` with `grad_fn = mx.value_and_grad(loss)` and `params` a
    dict literal holding a Python number."""

    id = "MLX039"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return differentiates(text) and "{" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        dicts = self._dicts(source)
        for call in self._grad_calls(source):
            first = call.args[0] if call.args else None
            if isinstance(first, ast.Name):
                for value in dicts.get(first.id, []):
                    yield from (self.hit(source, v) for v in value.values if number(v))
                yield from (self.hit(source, v) for v in built_numbers(source, first.id))

    def _dicts(self, source: SourceFile) -> dict[str, list[ast.Dict]]:
        found: dict[str, list[ast.Dict]] = {}
        for node in source.of_type(ast.Assign):
            if isinstance(node.value, ast.Dict):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, []).append(node.value)
        return found

    def _grad_calls(self, source: SourceFile) -> list[ast.Call]:
        names = {t.id for a in source.of_type(ast.Assign) if transform(source, a.value)
                 for t in a.targets if isinstance(t, ast.Name)}
        return [c for c in source.of_type(ast.Call) if isinstance(c.func, ast.Name) and (
            c.func.id in names) or transform(source, c.func)]
