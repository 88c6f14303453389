"""MLX066: a slice of a step's array kept across steps (appended to a list that outlives the
step): an MLX slice is a view that shares its source's buffer, so each kept row pins the
whole activation it was cut from.

Job: in a training step (a loop or a function that updates with an optimizer), find
`kept.append(v)` where `v` is a slice or index of an array (through `mx.stop_gradient`) and
`kept` outlives the step (an attribute, or a list bound outside the loop); in a loop over a
data iterator (an inference pass building an index), the same for a slice of what a model
object makes of each batch (`hidden = encoder(tokens)`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import arrays_in
from ..finding import Finding
from ..flow import assigned, assignments, body_nodes, calls
from ..names import BUILTIN_NAMES
from ..source import FUNCTIONS, LOOPS, SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update

STOP = "mlx.core.stop_gradient"
# outside a training step, the text of the row slice that pools a sequence (the last or the
# first position, `h[:, -1, :]`, `h[:, 0]`), kept or appended: 37 files of the three packages
# pass it, against 285 for any `[:, ` (7 more blocks parsed for it)
KEPT_SLICE = re.compile(r"[(=] ?\w+\[:, (?:-1|0)[,\]]")


class KeptSliceView(Rule):
    """MLX066: `bank.append(h[:, -1, :])` (or a name bound to such a slice) in a training
    step, with `bank` living across steps: the slice keeps all of `h`."""

    id = "MLX066"
    anchors = (".append(",)
    local = True  # one step's function or loop
    in_methods = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".append(" in text and ":" in text and (trains(text) or (
            ("[:, -1" in text or "[:, 0" in text) and KEPT_SLICE.search(text) is not None))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for owner in source.of_type(*FUNCTIONS, *LOOPS):
            if isinstance(owner, ast.Lambda):
                continue
            nodes = body_nodes(source, owner)
            if any(is_optimizer_update(source, c) for c in calls(nodes)):
                yield from self._kept(source, owner, nodes, set())
            elif isinstance(owner, ast.For) and data_iterator(owner.iter):
                # an inference pass over batches: what a model object makes of each batch
                made = {t.id for t, v in assignments(nodes)
                        if isinstance(t, ast.Name) and model_call(source, v)}
                yield from self._kept(source, owner, nodes, made)

    def _kept(self, source: SourceFile, owner: ast.AST, nodes: list[ast.AST],
              made: set[str]) -> Iterator[Finding]:
        arrays = made | (arrays_in(source, source.enclosing(owner) or source.tree
                                   ) if isinstance(owner, LOOPS) else arrays_in(source, owner))
        slices = {t.id for t, v in assignments(nodes) if isinstance(t, ast.Name)
                  and self._view(source, v, arrays)}
        local = {n for t, _ in assignments(nodes) for n in assigned(t)}
        for call in calls(nodes):
            func = call.func
            if (isinstance(func, ast.Attribute) and func.attr == "append" and len(call.args) == 1
                    and self._outlives(func.value, local) and (
                        self._view(source, call.args[0], arrays)
                        or isinstance(call.args[0], ast.Name) and call.args[0].id in slices)):
                yield self.hit(source, call)

    def _view(self, source: SourceFile, node: ast.AST, arrays: set[str]) -> bool:
        """A slice of an array (`h[:, -1, :]`), also under `mx.stop_gradient`."""
        if isinstance(node, ast.Call) and source.imports.resolve(node.func) == STOP and node.args:
            node = node.args[0]
        return (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                and node.value.id in arrays and _slices(node.slice))

    @staticmethod
    def _outlives(container: ast.AST, local: set[str]) -> bool:
        """An attribute (`self.bank`), or a name the step does not bind itself."""
        if isinstance(container, ast.Attribute):
            return True
        return isinstance(container, ast.Name) and container.id not in local


def data_iterator(node: ast.AST) -> bool:
    """`batches(...)`, `enumerate(loader(...))`: a loop over what a non-builtin call yields
    (not `range(...)` or `enumerate(range(...))`)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))):
        return False
    name = node.func.id if isinstance(node.func, ast.Name) else ""
    if name in ("enumerate", "zip", "iter") and node.args:
        return data_iterator(node.args[0])
    return name not in BUILTIN_NAMES


def model_call(source: SourceFile, value: ast.AST) -> bool:
    """`encoder(tokens)`: a call of a plain name that is no function, class or import of
    the module (a model object handed in or built elsewhere)."""
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id not in source.functions
            and value.func.id not in class_names(source)
            and source.imports.resolve(value.func) is None
            and value.func.id not in BUILTIN_NAMES)


def class_names(source: SourceFile) -> set[str]:
    """The names of the module's classes (computed once per module)."""
    return source.cached("class_names", source.tree,
                         lambda: {c.name for c in source.of_type(ast.ClassDef)})


def _slices(index: ast.AST) -> bool:
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    return any(isinstance(p, ast.Slice) for p in parts) and len(parts) > 1
