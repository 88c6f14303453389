"""MLX136: a module attribute that holds a layer is rebound to an array (the return value of an
initializer, `self.emb = nn.init.normal()(self.emb.weight)`), while the class still uses it as
a layer (`self.emb.weight`, `self.emb(x)`): the layer is gone, its parameters with it, and the
first use raises AttributeError ('array' object has no attribute 'weight').

`nn.init.*()` returns a function that makes a new array shaped like its argument; it does not
write into the layer. The layer keeps its own values unless the array is assigned to the
parameter (`self.emb.weight = nn.init.normal()(self.emb.weight)`).

Measured (mlx 0.32.4 CPU, failure corpus fresh34 `pattern_embed_init_clobber`): the first
`value_and_grad` call raised AttributeError inside `__call__`; assigning to `.weight` (or
calling the initializer for its value alone) it trained.

Job: find `self.x = <an array made from self.x's own parameters>` (an initializer's result, or
any array expression of `self.x.weight`) in a method of the module's own `nn.Module` class,
where the class also binds `self.x` to a layer and reads it as one (`self.x.weight`, `.bias`,
`self.x(...)`) in another method. An attribute rebound to an array made from something else
is left alone: the text test that keeps this rule cheap looks for the value reading the
attribute itself on the same line.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import arrays_in, is_array, layer_attributes, module_classes
from ..finding import Finding
from ..flow import assignments
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

PARAMETERS = frozenset({"weight", "bias", "scales", "biases"})


def initialised(source: SourceFile, value: ast.AST) -> bool:
    """`nn.init.normal()(w)`: the array an `mlx.nn.init` initializer returns."""
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Call) and (
        source.imports.resolve(value.func.func) or "").startswith("mlx.nn.init.")


def self_attribute(node: ast.AST) -> str | None:
    """`x` of `self.x`."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
            node.value.id == "self"):
        return node.attr
    return None


def reads_parameter(value: ast.AST, name: str) -> bool:
    """The value reads `self.<name>.weight` (or another parameter of the layer)."""
    return any(isinstance(n, ast.Attribute) and n.attr in PARAMETERS
               and self_attribute(n.value) == name for n in descendants(value))


def used_as_layer(method: ast.AST, name: str) -> bool:
    """The method reads `self.<name>.weight` (or another parameter) or calls `self.<name>(`."""
    for node in descendants(method):
        if isinstance(node, ast.Attribute) and node.attr in PARAMETERS and self_attribute(
                node.value) == name and isinstance(node.ctx, ast.Load):
            return True
        if isinstance(node, ast.Call) and self_attribute(node.func) == name:
            return True
    return False


# `self.x = <...self.x.<attr>...>` on one line: the new value is made from the layer itself
REBOUND_FROM_ITSELF = re.compile(r"self\.(\w+) *= *[^=\n][^\n]*self\.\1\.")


class LayerReplacedByArray(Rule):
    """MLX136: `self.emb = nn.init.normal()(self.emb.weight)` where `self.emb` is a layer
    the forward still reads as one."""

    id = "MLX136"
    anchors = ("self.",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return REBOUND_FROM_ITSELF.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        layers = layer_attributes(source)
        for cls in module_classes(source):
            methods = [f for f in cls.body if isinstance(f, FUNCTIONS)]
            for method in methods:
                yield from self._replaced(source, method, methods, layers)

    def _replaced(self, source: SourceFile, method: ast.AST, methods: list[ast.AST],
                  layers: set[str]) -> Iterator[Finding]:
        for target, value in assignments(descendants(method)):
            name = self_attribute(target)
            if name not in layers or not reads_parameter(value, name):
                continue
            if not (initialised(source, value) or isinstance(value, (ast.BinOp, ast.UnaryOp))
                    or is_array(source, value, arrays_in(source, method))):
                continue  # arithmetic on the layer's own weight is an array
            if any(used_as_layer(m, name) for m in methods if m is not method):
                yield self.hit(source, target)
