"""MLX270: a module parameter made with no element (`self.logit_scale = mx.array([])`, or a
literal 0 in the shape of `mx.zeros((0,))`): a public array attribute is a parameter, and
one of shape (0,) broadcasts against nothing, so the first forward pass that multiplies by it
raises ValueError (or, against another empty axis, trains nothing). A scalar parameter is
`mx.array(0.0)` or `mx.ones([])`, shape ().

Measured (mlx 0.32.4 CPU, failure corpus fresh306 `lanternslide_caption_towers`, after
mlx-examples 508f9f6, CLIP's `logit_scale`): a two-tower model trained from scratch raised
"ValueError: [broadcast_shapes] Shapes (64,64) and (0)" at its first loss, 0.46 s in; with
`mx.ones([])` it trained.

Job: in a class deriving from an `mlx.nn` class (directly or through the module's own
classes), `self.<public name> = mx.array([])` (an empty list or tuple literal) or an
`mx.zeros`/`mx.ones`/`mx.full`/`mx.random.normal`/`mx.random.uniform` whose literal shape
holds a 0.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, self_attr
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .construction import module_classes

# `zeros((0, d))`, `ones([0])`, `normal(shape=(0,))`: a literal 0 first in a shape
ZERO_SHAPE = re.compile(r"(?:zeros|ones|full|normal|uniform)\((?:shape=)?\s*[\(\[]\s*0\s*[,\)\]]")
MAKERS = frozenset({"mlx.core.zeros", "mlx.core.ones", "mlx.core.full",
                    "mlx.core.random.normal", "mlx.core.random.uniform"})


def empty(source: SourceFile, value: ast.AST) -> bool:
    """`mx.array([])`, or a maker given a literal shape that holds a 0."""
    if not isinstance(value, ast.Call) or not value.args:
        return False
    name = source.imports.resolve(value.func)
    first = value.args[0]
    if name == "mlx.core.array":
        return isinstance(first, (ast.List, ast.Tuple)) and not first.elts
    if name not in MAKERS:
        return False
    dims = first.elts if isinstance(first, (ast.List, ast.Tuple)) else [first]
    return any(isinstance(d, ast.Constant) and d.value == 0 and type(d.value) is int
               for d in dims)


class EmptyParameter(Rule):
    """MLX270: `self.logit_scale = mx.array([])` in a layer's `__init__`."""

    id = "MLX270"
    anchors = ("self.",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "array([])" in text or "array(())" in text or ZERO_SHAPE.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            for method in cls.body:
                if isinstance(method, FUNCTIONS) and method.name == "__init__":
                    yield from self._empties(source, method)

    def _empties(self, source: SourceFile, init: ast.AST) -> Iterator[Finding]:
        for target, value in body_assignments(source, init):
            name = self_attr(target)
            if name and not name.startswith("_") and empty(source, value):
                yield self.hit(source, target)
