"""MLX236: a Python list indexed with an MLX array of indices: `sched.sigmas[timesteps]` where
`self.sigmas = [...]` and `timesteps = mx.random.randint(0, n, (b,))`. A list takes an
integer (a 0-d integer array converts to one); an array of indices raises `TypeError: Only
0-dimensional integer arrays can be converted to an index` at the first step.

Measured (mlx 0.32.4 CPU, failure corpus fresh241 `marten_glaze_flowmatch`, mflux 8c9a38b):
a flow-matching trainer whose scheduler kept its sigmas as a list comprehension gathered them
with a batch of sampled timesteps and died at the first step; `mx.array(sched.sigmas)
[timesteps]` trained.

Job: a subscript whose value is an attribute (`x.sigmas`) that every assignment in the module
binds to a list (a display, a comprehension, `list(...)`), or a name bound so in its function,
and whose index is a call that returns an array of indices (`mx.random.randint` with a shape,
`mx.arange`, `mx.random.permutation`, `mx.argsort`, `mx.array` of a list) or a name bound only
to one in its function.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import assignments, body_nodes, bound_only_to, name_values
from ..source import SourceFile, descendants
from .base import Rule

# `self.sigmas = [...]`, `self.ts = list(...)`: a list bound to an attribute
LIST_ATTRIBUTE = re.compile(r"self\.\w+\s*=\s*(?:\[|list\()")
INDICES = frozenset({"mlx.core.arange", "mlx.core.random.permutation", "mlx.core.argsort",
                     "mlx.core.argpartition"})
# positional arguments before the shape: a call with more, or a `shape=`, returns an array
SHAPED = {"mlx.core.random.randint": 2, "mlx.core.random.categorical": 2}


class ListIndexedByArray(Rule):
    """MLX236: `a_list[mx_indices]`."""

    id = "MLX236"
    anchors = ("randint(", "arange(", "permutation(", "argsort(")
    local = True  # reads one subscript, its function, and the blocks binding lists to attributes

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks that index with such a call, and those that bind a list to an
        attribute (a scheduler's `self.sigmas = [...]` in its `__init__`: fresh241)."""
        return lambda block: any(a in block for a in cls.anchors) or LIST_ATTRIBUTE.search(
            block) is not None

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mx." in text and ("= [" in text or "list(" in text) and (
            "randint(" in text or "arange(" in text or "permutation(" in text
            or "argsort(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Subscript):
            if isinstance(node.ctx, ast.Load) and is_list(source, node.value) and indices(
                    source, node.slice, source.enclosing(node), 2):
                yield self.hit(source, node)


def is_list(source: SourceFile, node: ast.AST) -> bool:
    """An attribute every module assignment binds to a list, or a name its function does."""
    if isinstance(node, ast.Attribute):
        bound = attribute_values(source).get(node.attr, [])
    elif isinstance(node, ast.Name):
        bound = name_values(source, node.id, source.enclosing(node))
    else:
        return False
    return bool(bound) and all(isinstance(v, (ast.List, ast.ListComp)) or (
        isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "list")
        for v in bound)


def attribute_values(source: SourceFile) -> dict[str, list[ast.AST]]:
    """Each attribute name -> every value the module assigns to `<anything>.<name>`
    (computed once per module)."""
    def make() -> dict[str, list[ast.AST]]:
        found: dict[str, list[ast.AST]] = {}
        for target, value in assignments(source.of_type(ast.Assign)):
            if isinstance(target, ast.Attribute):
                found.setdefault(target.attr, []).append(value)
        return found
    return source.cached("mlx236_attribute_values", source.tree, make)


def indices(source: SourceFile, node: ast.AST, scope: ast.AST | None, depth: int) -> bool:
    """A call returning an array of indices, or a name bound only to one."""
    if isinstance(node, ast.Call):
        name = source.imports.resolve(node.func) or ""
        shaped = SHAPED.get(name)
        return name in INDICES or (shaped is not None and (
            len(node.args) > shaped or any(k.arg == "shape" for k in node.keywords))) or (
            name == "mlx.core.array" and bool(node.args)
            and isinstance(node.args[0], (ast.List, ast.ListComp)))
    return isinstance(node, ast.Name) and not looped(source, node.id, scope) and bound_only_to(
        source, node, scope, depth, lambda value, left: indices(source, value, scope, left))


def looped(source: SourceFile, name: str, scope: ast.AST | None) -> bool:
    """A `for` in the scope binds `name` (`for u, i in pairs`): not only an array of
    indices."""
    return any(isinstance(n, ast.For) and any(
        isinstance(t, ast.Name) and t.id == name for t in descendants(n.target))
        for n in body_nodes(source, scope or source.tree))
