"""MLX275: a name bound to an array's `.shape` and then written by index (`out_shape =
values.shape`, then `out_shape[axis] = n`): an MLX array's shape is a tuple (as NumPy's is;
MLX's was a list before 0.1), which takes no item assignment, so the line raises TypeError
the first time it runs. `list(values.shape)` is the copy meant.

Measured (mlx 0.32.4 CPU): `s = mx.zeros((3, 2)).shape; s[0] = 4` raised TypeError "'tuple'
object does not support item assignment". Failure corpus fresh336 `cobweb_anchor_scatteradd`
(mlx-graphs 3a3f68f, "migrate to mlx 0.1"): a scatter helper that built its output's shape
with `out_shape = values.shape; out_shape[axis] = out_size` raised at the first message
pass; `list(values.shape)` trained.

Job: per function (or the module's top level), each item write `name[...] = v` or
`name[...] += v` whose binding of `name` last before it (by line, in the same function) is
`x.shape` or a slice of it.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes
from ..source import SourceFile
from .base import Rule

# a line that ends in `.shape` (or a slice of it), then that line's own binding: searched from
# the literal `.shape` (a pattern that starts at every line's start tried each position of
# every file with a shape: 0.39 s of the three packages' may_fire, against 0.10 s)
SHAPE_END = re.compile(r"\.shape(?:\[[^\]\n]*:[^\]\n]*\])?[ \t]*$", re.MULTILINE)
BOUND = re.compile(r"[ \t]*(\w+)[ \t]*=[^=\n]*$")
WRITE = r"\b{name}\[[^\]\n]*\]\s*[-+*/]?=(?!=)"


def written(node: ast.AST) -> str | None:
    """The name a statement writes an item of (`name[...] = v`, `name[...] += v`)."""
    targets = node.targets if type(node) is ast.Assign else [node.target] \
        if type(node) is ast.AugAssign else []
    return next((t.value.id for t in targets if type(t) is ast.Subscript
                 and type(t.value) is ast.Name), None)


def shape_of(value: ast.AST) -> bool:
    """`x.shape`, or a slice of it (`x.shape[:-1]`: a tuple too)."""
    if type(value) is ast.Subscript and type(value.slice) is ast.Slice:
        value = value.value
    return type(value) is ast.Attribute and value.attr == "shape"


def bindings(nodes: list[ast.AST], name: str) -> list[tuple[int, ast.AST | None]]:
    """(line, value or None when not a plain assignment) of each binding of `name`."""
    found, plain = [], set()
    for node in nodes:
        if type(node) is ast.Assign:
            targets = [t for t in node.targets if type(t) is ast.Name and t.id == name]
            plain.update(map(id, targets))
            found += [(node.lineno, node.value)] if targets else []
        elif type(node) is ast.Name and type(node.ctx) is ast.Store and node.id == name \
                and id(node) not in plain:
            found.append((node.lineno, None))  # a loop, `with`, walrus or tuple target
    return found


def last_bound(source: SourceFile, node: ast.AST, name: str) -> ast.AST | None:
    """The value `name` was last bound to before `node` in its function (None: no plain
    assignment, or none)."""
    nodes = body_nodes(source, source.enclosing(node) or source.tree)  # walked once a scope
    before = [b for b in bindings(nodes, name) if b[0] < node.lineno]
    return max(before, key=lambda b: b[0])[1] if before else None


class ShapeWrittenByIndex(Rule):
    """MLX275: `s = x.shape; s[axis] = n`: a shape tuple written by index."""

    id = "MLX275"
    anchors = (".shape",)
    local = True
    in_methods = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """A name bound to a shape on a line of its own, written by index somewhere."""
        if ".shape" not in text:
            return False
        names = {bound[1] for end in SHAPE_END.finditer(text) if (bound := BOUND.match(
            text, text.rfind("\n", 0, end.start()) + 1, end.start()))}
        return any(re.search(WRITE.format(name=n), text) for n in names)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign, ast.AugAssign):
            name = written(node)
            value = last_bound(source, node, name) if name is not None else None
            if value is not None and shape_of(value):
                yield self.hit(source, node)
