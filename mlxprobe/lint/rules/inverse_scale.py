"""MLX191: a division by an inverse square root, `scores / (d ** -0.5)` (or `/ mx.rsqrt(d)`,
`/ (1 / math.sqrt(d))`): the scale `d ** -0.5` is a factor, so dividing by it multiplies by
sqrt(d). Attention logits meant to shrink by sqrt(d) grow by it: d times too large, the
softmax one-hot from the first step and the gradient through it gone.

Measured (mlx 0.32.4 CPU, failure corpus fresh159 `llama_attn_invsqrt_recall`, from
Juno-T/llama3-mlx d48741c, which changed the exponent to 0.5): a llama-style attention block
with attn_dim 64 on a pointer-recall task stayed at ln(16) = 2.77 for 400 steps (2.26 and 30.7 %
recall at step 600); dividing by `attn_dim ** 0.5`, 0.0015 and 100 % recall.

Job: a `/` whose divisor is a power with exponent -0.5 (`** -0.5`, `** (-1 / 2)`), a call of
`mlx.core.rsqrt`, or `1 / sqrt(...)` (math, numpy or mlx); nothing else: a program that
means sqrt(d) writes `* d ** 0.5`. Must not import: mlx, anything of mlxprobe outside
`mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..names import last_name
from ..source import SourceFile
from .base import Rule

RSQRT = frozenset({"mlx.core.rsqrt"})
# what `inverse_root` can find after a `/`, as text: a power with a negative exponent,
# rsqrt, 1 / sqrt (the text test: `head_dim ** -0.5` as a factor, in every attention module,
# is no division by it)
DIVIDED = re.compile(r"/\s*\(?\s*[\w.\[\]]+\s*\*\*\s*\(?\s*-|/\s*\(?\s*(?:[\w.]+\.)?rsqrt\(|"
                     r"/\s*\(\s*1(?:\.0)?\s*/\s*(?:[\w.]+\.)?sqrt\(")


def negative_half(node: ast.AST) -> bool:
    """`-0.5` or `-1 / 2` as written."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ast.unparse(node).replace(" ", "") in ("-1/2", "-(1/2)", "-1.0/2", "-1/2.0")
    return isinstance(value, float) and value == -0.5


def inverse_root(source: SourceFile, node: ast.AST) -> bool:
    """`x ** -0.5`, `mx.rsqrt(x)`, `1 / sqrt(x)`."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return negative_half(node.right)
    if isinstance(node, ast.Call):
        return source.imports.resolve(node.func) in RSQRT
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
            and isinstance(node.left, ast.Constant) and node.left.value == 1
            and isinstance(node.right, ast.Call) and last_name(node.right.func) == "sqrt")


class DividedByInverseRoot(Rule):
    """MLX191: `scores / (d ** -0.5)`: a division by the scale multiplies by sqrt(d)."""

    id = "MLX191"
    anchors = ("/",)
    local = True  # the division itself (and the imports): the blocks the text test accepts

    @staticmethod
    def may_fire(text: str) -> bool:
        return "/" in text and DIVIDED.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BinOp):
            if isinstance(node.op, ast.Div) and inverse_root(source, node.right):
                yield self.hit(source, node)
