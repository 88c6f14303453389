"""MLX237: a weight initialised with a standard deviation that grows with the layer's width:
`nn.init.normal(0.0, d_model ** 0.5)` or `mx.random.normal(shape) * math.sqrt(hidden)`.
A variance-preserving start scales by 1 / sqrt(fan_in) (the exponent's sign lost gives
sqrt(fan_in)): with std sqrt(d) each layer multiplies its input's scale by about d, so the
activations and logits of a deep stack blow up at the first step and the loss starts orders
above chance (or at NaN) and never recovers.

Measured (mlx 0.32.4 CPU, failure corpus fresh241 `quarry_cairn_rmsllama`, mini-llama-mlx
bee8edf): a LLaMA whose attention projections were drawn with std `d_embd ** 0.5` (d_embd =
64: std 8 where 0.125 was meant) trained without learning; `d_embd ** -0.5` learned.

Job: the std argument of `nn.init.normal(mean, std)`, or the factor multiplying an
`mx.random.normal(...)`, being `W ** c` with c a positive number or `sqrt(W)` (math, numpy or
mlx), where W is a name or an attribute whose name says it is a width (dim, embd, hidden,
width, d_model, fan_in, features, channels, units). A shrinking scale (`W ** -0.5`,
`1 / sqrt(W)`, `sqrt(2 / W)`) is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..names import last_name
from ..source import SourceFile
from .base import Rule

NORMAL_INIT = "mlx.nn.init.normal"
RANDOM_NORMAL = "mlx.core.random.normal"
SQRT = frozenset({"math.sqrt", "numpy.sqrt", "mlx.core.sqrt"})
WIDTHS = ("dim", "embd", "emb", "hidden", "width", "d_model", "fan_in", "features",
          "channels", "units")


class InitGrowsWithWidth(Rule):
    """MLX237: `nn.init.normal(0, d ** 0.5)`: a start scale that grows with the width."""

    id = "MLX237"
    anchors = ("normal(",)
    local = True  # reads one call

    @staticmethod
    def may_fire(text: str) -> bool:
        return "normal(" in text and ("**" in text or "sqrt(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Call, ast.BinOp):
            scale = scale_of(source, node)
            if scale is not None and grows(source, scale):
                yield self.hit(source, node)


def scale_of(source: SourceFile, node: ast.AST) -> ast.AST | None:
    """The std of `nn.init.normal(mean, std)`, or the factor beside `mx.random.normal(...)`
    in a product."""
    if isinstance(node, ast.Call) and source.imports.resolve(node.func) == NORMAL_INIT:
        given = node.args[1] if len(node.args) > 1 else None
        return next((k.value for k in node.keywords if k.arg == "std"), given)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for one, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(one, ast.Call) and source.imports.resolve(one.func) == RANDOM_NORMAL:
                return other
    return None


def grows(source: SourceFile, node: ast.AST) -> bool:
    """`W ** c` (c > 0) or `sqrt(W)`, W named as a width."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        power = node.right
        return isinstance(power, ast.Constant) and isinstance(power.value, (int, float)) \
            and power.value > 0 and width(node.left)
    return isinstance(node, ast.Call) and source.imports.resolve(node.func) in SQRT \
        and len(node.args) == 1 and width(node.args[0])


def width(node: ast.AST) -> bool:
    name = last_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
    return bool(name) and any(w in name.lower() for w in WIDTHS)
