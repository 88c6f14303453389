"""MLX070: an in-place write into a name bound to a slice of an MLX array, as if it wrote
through to the array (NumPy's views, PyTorch's `narrow`): in MLX the write changes only the
new array the slice made.

Job: in a training program (a loop, and a gradient or an optimizer update), in a function
or the module's top-level code, find `part = W[...]` where `W` holds an
MLX array, then `part[...] = value` (or `part[...] += value`), after which `part` is never read
again: the write is all that was done with it, so it was meant for `W`, which never sees
it. Measured (mlx 0.32.4 CPU, failure corpus fresh7 `slice_view_update_no_writeback`, mlx
issue 2208): the new-class columns updated through `W_new = W[:, OLD:]; W_new[:] = ...`
stayed 0 for the whole run, nll 0.6907 at every epoch; written as `W[:, OLD:] = ...` they
trained (0.21 -> 0.008). A slice that is written and then used (returned, stored, written
back with `W[...] = part`) is left alone, and so is a slice of a NumPy array.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import arrays_in
from ..finding import Finding
from ..flow import assignments, scope_nodes
from ..source import FUNCTIONS, SourceFile
from .base import TRAINS, Rule, trains

# an item write at the start of a line: `part[:, 2:] = ...`, `part[0] += ...`
WRITE = re.compile(r"^[ \t]*(\w+)\[[^\n]*\]\s*[-+*/]?= ", re.MULTILINE)


def slice_names(source: SourceFile, scope: ast.AST, nodes: list[ast.AST]) -> dict[str, str]:
    """Names bound to a slice of an MLX array -> the array's name (`part = W[:, 4:]`)."""
    arrays = arrays_in(source, scope)
    return {t.id: v.value.id for t, v in assignments(nodes)
            if isinstance(t, ast.Name) and isinstance(v, ast.Subscript)
            and isinstance(v.value, ast.Name) and v.value.id in arrays}


def written(node: ast.AST) -> str | None:
    """The name an item write changes: `part[...] = v`, `part[...] += v`."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    elif isinstance(node, ast.AugAssign):
        target = node.target
    else:
        return None
    if not isinstance(target, ast.Subscript):
        return None
    return target.value.id if isinstance(target.value, ast.Name) else None


def read_after(nodes: list[ast.AST], name: str, write: ast.AST) -> bool:
    """`name` is read in a statement that ends after the write's statement."""
    end = write.end_lineno or write.lineno
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
               and n.lineno > end for n in nodes)


class SliceWriteLost(Rule):
    """MLX070: `part = W[...]; part[...] = v` with `part` never read again."""

    id = "MLX070"
    anchors = TRAINS
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        if "] = " not in text and "] += " not in text and "] -= " not in text or not trains(text):
            return False
        names = {m[1] for m in WRITE.finditer(text)}
        return bool(names) and re.search(
            rf"\b(?:{'|'.join(sorted(names))}) = [\w.]+\[", text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not trains(source.text):
            return
        for scope in [source.tree, *source.of_type(*FUNCTIONS)]:
            nodes = scope_nodes(source, scope)
            parts = slice_names(source, scope, nodes)
            for node in nodes:
                name = written(node)
                if name in parts and not read_after(nodes, name, node):
                    yield self.hit(source, node)
