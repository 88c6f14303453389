"""MLX140: logits rebuilt from a layer's weight outside the model (`h @ model.head.weight.T`, a
hand-written or "fused" loss that saves materialising them twice) without the scale the
model's forward applies to that layer's output (`self.head(h) * self.output_multiplier`, or
`/ self.logit_scale`). The loss then trains another function than the one the model computes
and is evaluated on: with a large head and a logit softcap after it, most logits saturate.

Measured (mlx 0.32.4 CPU, failure corpus fresh37 `glimmer_softcap_fused_ce`, from
unsloth-zoo's fused cross-entropy): the forward is `cap * tanh(head(h) * 0.2 / cap)`; the
loss rebuilt `h @ head.weight.T` without the 0.2: 66.5% of the logits saturated tanh at
init (3% with it), train CE fell 4.45 -> 0.98 while val_acc fell 0.25 -> 0.027 (chance
0.021) and val CE rose 2.68 -> 6.13; with the multiplier, val_acc 0.996.

Job: read each class's `__call__` for a layer call scaled by one of its attributes
(`self.L(...) * self.A`, `/ self.A`), then fire on a matrix product with `<x>.L.weight`
(transposed or not; `@`, `mx.matmul`) in a function outside that `__call__` that reads no
attribute named A.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import FUNCTIONS, SourceFile
from .base import Rule

SCALES = (ast.Mult, ast.Div)
# `@ model.head.weight` / `matmul(h, x.head.weight...)`; `self.head(...) * self.scale`
PRODUCT = re.compile(r"(?:@\s*|matmul\([^()]*,\s*)\w+(?:\.\w+)+\.weight\b")
SCALED = re.compile(r"self\.\w+\([^()]*(?:\([^()]*\)[^()]*)*\)\s*[*/]\s*self\.\w")
MATMUL = "mlx.core.matmul"


def self_attribute(node: ast.AST) -> str | None:
    """`A` of `self.A`."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "self":
        return node.attr
    return None


def scaled_layers(method: ast.AST) -> dict[str, str]:
    """{layer: scale} for each `self.layer(...) * self.scale` (or `/`) in a `__call__`."""
    found = {}
    for node in ast.walk(method):
        if isinstance(node, ast.BinOp) and isinstance(node.op, SCALES):
            call, scale = node.left, self_attribute(node.right)
            layer = self_attribute(call.func) if isinstance(call, ast.Call) else None
            if layer and scale:
                found[layer] = scale
    return found


def weight_of(node: ast.AST) -> str | None:
    """`L` of `x.L.weight` or `x.L.weight.T`."""
    if isinstance(node, ast.Attribute) and node.attr == "T":
        node = node.value
    if isinstance(node, ast.Attribute) and node.attr == "weight" and isinstance(
            node.value, ast.Attribute):
        return node.value.attr
    return None


def operands(source: SourceFile, node: ast.AST) -> list[ast.AST]:
    """The operands of `a @ b` and `mx.matmul(a, b)`."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return [node.left, node.right]
    if isinstance(node, ast.Call) and source.imports.resolve(node.func) == MATMUL:
        return list(node.args[:2])
    return []


class LogitsRebuiltWithoutScale(Rule):
    """MLX140: `h @ model.head.weight.T` where the forward does `self.head(h) * self.s`."""

    id = "MLX140"
    anchors = (".weight",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A product with a layer's weight and a layer call scaled by an attribute in the
        text (3 of the packages' 1,875 files; without the two patterns 349 passed and were
        parsed for this rule alone, ~1.5 s)."""
        return ".weight" in text and "def __call__" in text and PRODUCT.search(
            text) is not None and SCALED.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        scales, calls = self._scales(source)
        if not scales:
            return
        for node in source.of_type(ast.BinOp, ast.Call):
            layer = next((w for w in map(weight_of, operands(source, node)) if w), None)
            function = source.enclosing(node) if layer in scales else None
            if function is not None and function not in calls and not any(
                    isinstance(n, ast.Attribute) and n.attr == scales[layer]
                    for n in ast.walk(function)):
                yield self.hit(source, node)

    @staticmethod
    def _scales(source: SourceFile) -> tuple[dict[str, str], set[ast.AST]]:
        """{layer: scale} over every class's `__call__`, and those methods."""
        scales, calls = {}, set()
        for method in source.of_type(*FUNCTIONS):
            if method.name == "__call__" and isinstance(source.parents.get(method),
                                                        ast.ClassDef):
                calls.add(method)
                scales.update(scaled_layers(method))
        return scales, calls
