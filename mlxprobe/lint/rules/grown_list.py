"""MLX186: a public list attribute of a module that its forward pass appends to
(`self.vals = []` in `__init__`, `self.vals.append(penalty)` in `__call__`). `nn.Module` is a
dict of its attributes and collects a public list as a parameter container, so the arrays
the forward pass appends become parameters: the parameter tree grows at every step, the
optimizer's state (built at its first update) no longer matches it, and the second update
raises IndexError ("list index out of range") inside `tree_map`.

Measured (mlx 0.32.4 CPU, failure corpus fresh142 `reedwarbler_vq_codec`, VQ-VAE_MLX 6af34a5
"fixes for the tree_map error"): a VQ codec that kept its quantizer penalties in
`self.qt_vals` logged 1594 trainable parameters (1593 with `self._qt_vals`) and died at the
second `optimizer.update` with IndexError; with private names it trained 300 steps (loss
0.262 -> 0.059).

Job: in the file's own `nn.Module` classes, a public attribute bound in `__init__` to a list
display and grown in `__call__` or a method of the class it calls (`self._encode(x)`, two
levels deep) by `.append`, `.extend`, `.insert` or `+=`, in a file that trains.
A private name (`self._vals`) is not collected: the fix. Must not import: mlx, anything of
mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import init_attributes, method_of, self_attr, walk
from ..source import SourceFile
from .base import TRAINS, Rule, trains

GROWS = frozenset({"append", "extend", "insert"})
DEPTH = 2  # levels of the class's own methods followed from `__call__`


def list_attributes(cls: ast.ClassDef) -> set[str]:
    """Public attributes `__init__` binds to a list display (`self.vals = []`)."""
    return init_attributes(cls, lambda value: isinstance(value, ast.List))


def grown(node: ast.AST, names: set[str]) -> str | None:
    """The attribute `node` grows: `self.x.append(...)`, `self.x += [...]`."""
    if type(node) is ast.Call and isinstance(node.func, ast.Attribute) and (
            node.func.attr in GROWS):
        name = self_attr(node.func.value)
        return name if name in names else None
    if type(node) is ast.AugAssign and isinstance(node.op, ast.Add):
        name = self_attr(node.target)
        return name if name in names else None
    return None


class ListAttributeGrown(Rule):
    """MLX186: `self.vals = []` in `__init__`, `self.vals.append(x)` in `__call__`."""

    id = "MLX186"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text) and "__call__" in text and ("append(" in text or "+=" in text
                                                        or "extend(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            forward, names = method_of(cls, "__call__"), list_attributes(cls)
            if forward is None or not names:
                continue
            for node in forward_nodes(cls, forward):
                if grown(node, names):
                    yield self.hit(source, node)
                    break


def forward_nodes(cls: ast.ClassDef, forward: ast.AST) -> list[ast.AST]:
    """The nodes of `__call__` and of the class's methods it calls (`self.m(...)`), DEPTH
    levels deep."""
    nodes, seen, frontier = [], {forward}, [forward]
    for _ in range(DEPTH + 1):
        found = [n for f in frontier for n in walk(f.body)]
        nodes += found
        frontier = [m for n in found if type(n) is ast.Call and (name := self_attr(n.func))
                    and (m := method_of(cls, name)) is not None and m not in seen]
        seen.update(frontier)
    return nodes
