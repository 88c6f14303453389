"""One parsed module: its text, tree, imports, parents and an index of its nodes by type.

Job: parse once and index once, so that every rule looks things up instead of walking the
tree again (the whole of mlx-lm must lint in well under 2 s).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import syntax
from .names import Imports

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
LOOPS = (ast.For, ast.AsyncFor, ast.While)
# Fields that hold names, flags, contexts or operators, never a node a rule visits.
SCALAR_FIELDS = frozenset({"ctx", "id", "attr", "arg", "name", "names", "module", "level",
                           "type_comment", "kind", "conversion", "is_async", "simple", "op",
                           "ops"})
FIELDS: dict[type, tuple[str, ...]] = {}


@dataclass
class SourceFile:
    """A module's text and tree, with the lookups the rules share."""

    path: str
    text: str
    tree: ast.Module
    imports: Imports
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    by_type: dict[type, list[ast.AST]] = field(default_factory=lambda: defaultdict(list))
    functions: dict[str, list[ast.AST]] = field(default_factory=lambda: defaultdict(list))
    cache: dict[tuple[str, ast.AST], object] = field(default_factory=dict)

    def cached(self, name: str, node: ast.AST, make: Callable[[], object]) -> Any:
        """`make()`'s result, computed once per (name, node) for this module."""
        key = (name, node)
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def of_type(self, *kinds: type) -> Iterator[ast.AST]:
        for kind in kinds:
            yield from self.by_type.get(kind, ())

    def enclosing(self, node: ast.AST, kinds: tuple[type, ...] = FUNCTIONS) -> ast.AST | None:
        """The nearest ancestor of one of `kinds` (by default the enclosing function)."""
        node = self.parents.get(node)
        while node is not None and not isinstance(node, kinds):
            node = self.parents.get(node)
        return node

    def local_function(self, name: str) -> ast.AST | None:
        """The module's own function (at any depth) called `name`, when only one has it."""
        found = self.functions.get(name, [])
        return found[0] if len(found) == 1 else None


def parse(path: str, text: str) -> SourceFile:
    """Parse and index; raises SyntaxError (or ValueError for NUL bytes) when it cannot."""
    return index(path, text, syntax.parse(text, filename=path))


def index(path: str, text: str, tree: ast.Module) -> SourceFile:
    """Index an already parsed module: one pass records each node's children and parent.
    The children leave out context and operator objects and plain-value fields. This loop
    visits every node of every file a rule may fire in, so it is written flat (no call per
    node): a fifth of linting mlx-lm, mlx-lm-lora and mlx-vlm went into it."""
    source = SourceFile(path, text, tree, Imports([]))
    by_type, parents, known, node_type = source.by_type, source.parents, FIELDS, ast.AST
    stack: list[ast.AST] = [tree]
    pop, push = stack.pop, stack.extend
    while stack:
        node = pop()
        kind = type(node)
        by_type[kind].append(node)
        names = known.get(kind)
        if names is None:
            names = fields(kind)
        kids: list[ast.AST] = []
        for name in names:
            value = getattr(node, name, None)
            if type(value) is list:
                kids += [v for v in value if isinstance(v, node_type)]
            elif isinstance(value, node_type):
                kids.append(value)
        node._kids = kids  # type: ignore[attr-defined]  # read by `flow.walk`
        if kids:
            parents.update(dict.fromkeys(kids, node))
            push(kids)
    source.imports = Imports(source.of_type(ast.Import, ast.ImportFrom))
    for function in source.of_type(*FUNCTIONS):
        source.functions[function.name].append(function)
    return source


def descendants(node: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk` (the node and every node under it, breadth first) through the children
    `index` recorded, without context or operator objects: a third of the time of
    `ast.walk`, which asks each node for its fields. A node no index saw (a tree a rule
    parsed itself) is walked with `ast.iter_child_nodes`."""
    todo = deque([node])
    while todo:
        current = todo.popleft()
        kids = getattr(current, "_kids", None)
        todo.extend(ast.iter_child_nodes(current) if kids is None else kids)
        yield current


def fields(kind: type) -> tuple[str, ...]:
    """The fields of a node type that can hold child nodes (cached per type)."""
    if kind not in FIELDS:
        FIELDS[kind] = () if kind is ast.Constant else tuple(
            f for f in kind._fields if f not in SCALAR_FIELDS)
    return FIELDS[kind]
