"""MLX280: in a `__getitem__`, a selection computed from the index (`indices =
indices[idx]`, `indices = [indices[i] for i in idx]`) that nothing reads afterwards: the
item or subset returned does not depend on the index, so every slice of the dataset is the
whole dataset, and a train/test split cut by slicing puts every example in both.

Measured (mlx 0.32.4 CPU, failure corpus fresh362 `sluice_ledger_polymer`, mlx-graphs
2353fab, "hotfix: dataset indexing", which built the subset as `[self.graphs[i] for i in
indices]`): `ds[:240]` and `ds[240:]` both held all 300 graphs, so test_acc equalled
train_acc at each of 10 reports and ended at 1.000 against a stated ceiling of ~0.80; with
the fix the test accuracy ends at 0.667.

Job: in each method named `__getitem__`, a name rebound, outside any loop, to a value that
reads both itself and the index parameter, with no read of that name reachable after it
(later in the method and not in another branch of an `if` holding both).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import between
from ..source import FUNCTIONS, LOOPS, SourceFile, descendants
from .base import AnchoredRule


def reads(node: ast.AST, name: str) -> list[ast.Name]:
    """The loads of `name` under `node`."""
    return [n for n in descendants(node) if isinstance(n, ast.Name) and n.id == name
            and isinstance(n.ctx, ast.Load)]


def selections(method: ast.FunctionDef, key: str) -> Iterator[tuple[ast.Assign, str]]:
    """(statement, name) for each `name = <value reading name and key>` in `method`."""
    for node in descendants(method):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            name = node.targets[0].id
            if reads(node.value, name) and reads(node.value, key):
                yield node, name


def in_loop(source: SourceFile, node: ast.AST, method: ast.AST) -> bool:
    """`node` lies inside a loop of `method` (a later iteration may read its value)."""
    return between(source, node, method, (*LOOPS, *FUNCTIONS))


def apart(source: SourceFile, first: ast.AST, second: ast.AST) -> bool:
    """`first` and `second` lie in different branches of one `if` (neither runs after the
    other)."""
    chain = dict(ancestry(source, first))
    node, child = next(((n, c) for n, c in ancestry(source, second) if n in chain),
                       (None, second))
    if not isinstance(node, ast.If):
        return False
    return (chain[node] in node.body) != (child in node.body)


def ancestry(source: SourceFile, node: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
    """(ancestor, its child on the way down to `node`), nearest first."""
    parent = source.parents.get(node)
    while parent is not None:
        yield parent, node
        node, parent = parent, source.parents.get(parent)


def dropped(source: SourceFile, method: ast.FunctionDef, store: ast.Assign, name: str) -> bool:
    """No read of `name` can run after `store`."""
    after = [n for n in reads(method, name) if n.lineno > store.end_lineno]  # type: ignore
    return all(apart(source, store, n) for n in after)


class DroppedSelection(AnchoredRule):
    """MLX280: `indices = indices[idx]` in `__getitem__`, then `[g for g in self.graphs]`."""

    id = "MLX280"
    anchors = ("__getitem__",)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for method in source.functions.get("__getitem__", []):
            params = method.args.args
            if len(params) < 2:
                continue
            for store, name in selections(method, params[1].arg):
                if not in_loop(source, store, method) and dropped(source, method, store, name):
                    yield self.hit(source, store)
                    break
