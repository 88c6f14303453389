"""MLX092: a module overrides `update()` (to refresh something it derives from its arrays),
and the program updates it through its parent (`model.update({"vq": {...}})`): the parent's
`Module.update` sets the child's arrays itself and never calls the override.

Job: since MLX 0.26 `Module.update` walks the tree and assigns the leaves directly; a child's
own `update` runs only when it is called on the child. Fires on a call `x.update({...})` with
a dict literal whose key names an attribute bound (`self.vq = VQ(...)`) to an instance of a
module class of this file that defines its own `update`. Measured (mlx 0.32.4 CPU, failure
corpus fresh9 `a9_vq_codebook_update_override`, an EMA codebook in the moshi layout):
distortion 65.9 -> 64.2 over 600 steps (the cached codebook never refreshed); with
`model.vq.update({...})` 65.9 -> 5.3.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import self_attr
from ..source import FUNCTIONS, SourceFile
from .base import Rule


def overriders(source: SourceFile) -> set[str]:
    """The module classes of this file that define their own `update`."""
    return {c.name for c in module_classes(source)
            if any(isinstance(f, FUNCTIONS) and f.name == "update" for f in c.body)}


def children_of(source: SourceFile, classes: set[str]) -> set[str]:
    """Attribute names bound to an instance of one of `classes` (`self.vq = VQ(...)`)."""
    found = set()
    for node in source.of_type(ast.Assign):
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
                and value.func.id in classes:
            found |= {a for t in node.targets if (a := self_attr(t))}
    return found


class UpdateOverrideBypassed(Rule):
    """MLX092: `model.update({"vq": {...}})` where `vq` is a module with its own `update`."""

    id = "MLX092"
    anchors = ("def update(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "def update(" in text and ".update({" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        children = children_of(source, overriders(source))
        if not children:
            return
        for call in source.of_type(ast.Call):
            func = call.func
            if not (isinstance(func, ast.Attribute) and func.attr == "update"
                    and len(call.args) == 1 and isinstance(call.args[0], ast.Dict)):
                continue
            keys = {k.value for k in call.args[0].keys if isinstance(k, ast.Constant)}
            if keys & children and self_attr(func.value) not in children:
                yield self.hit(source, call)
