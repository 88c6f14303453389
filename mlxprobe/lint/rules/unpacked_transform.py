"""MLX162: the result of `mx.value_and_grad(f)`, `nn.value_and_grad(model, f)` or
`mx.grad(f)` unpacked into names (`value, grads = mx.value_and_grad(f)`): a transformation
returns a function, which does not unpack; it must be called with the arguments first.

Measured (mlx 0.32.4 CPU, failure corpus fresh55 `vgrad_doc_unpack`, mlx issue 273, whose
docs example was written this way): the first iteration raised "TypeError: cannot unpack
non-iterable _gc_func object" (`function object` for `nn.value_and_grad`).

Job: an assignment to a tuple or list of names whose value is a call of one of those
transformations. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..names import MX_GRAD, NN_GRAD
from ..source import SourceFile
from .base import Rule

TRANSFORMS = MX_GRAD | NN_GRAD


class UnpackedTransform(Rule):
    """MLX162: `a, b = mx.value_and_grad(f)`: a function unpacked as if it were values."""

    id = "MLX162"
    anchors = ("grad(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and "," in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            value = node.value
            if isinstance(value, ast.Call) and any(
                    isinstance(t, (ast.Tuple, ast.List)) for t in node.targets) \
                    and source.imports.resolve(value.func) in TRANSFORMS:
                yield self.hit(source, value)
