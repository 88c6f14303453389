"""MLX258: `value or <an MLX array>` (`mask = inputs.get("attention_mask") or
mx.ones_like(ids)`, `cell = cell or mx.zeros((B, H))`): the fallback is an array, so the value
is meant to be one too, and `or` asks for its truth; MLX converts an array to a bool only when
it has one element, so the line raises "[convert] Only length-1 arrays can be converted to
Python scalars" as soon as a real array arrives (and a one-element array of 0 is silently
replaced by the fallback). It passes only while the value is None.

Measured (mlx 0.32.4 CPU, failure corpus fresh279 `sextant_caption_batch`, from mlx-vlm
869bbb7 "fix" of 957a36f): a captioner's Dataset read `inputs.get("attention_mask") or
mx.ones_like(input_ids)` and every run died with that ValueError while building its first
batch; `inputs.get("attention_mask", mx.ones_like(input_ids))` trains to 84% exact captions.

Job: a boolean `or` whose last operand is an mlx.core array constructor (`mx.ones_like`,
`mx.zeros`, `mx.array`, `mx.random.normal`, ...: ARRAY_MAKERS) and whose other operands are
values that may hold an array (a name, an attribute, a subscript, a `.get(...)`), not a test
(a comparison, a call of another kind, a constant). Over the three lint packages and every
corpus script at this rule's writing: one place, fresh279's; in the fetched MLX repositories:
the same line in mlx-examples' EnCodec LSTM (`cell = cell or mx.zeros(...)`, latent: its
callers pass no cell).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import MLX
from ..finding import Finding
from ..source import SourceFile
from .base import Rule

ARRAY_MAKERS = frozenset({
    "array", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "eye",
    "identity", "tri", "linspace", "random.normal", "random.uniform", "random.randint",
    "random.bernoulli", "random.truncated_normal"})


def makes_array(source: SourceFile, node: ast.AST) -> bool:
    """`mx.ones_like(...)`, `mx.random.normal(...)`: an mlx.core array constructor."""
    name = source.imports.resolve(node.func) if isinstance(node, ast.Call) else None
    return bool(name) and name.startswith(MLX) and name[len(MLX):] in ARRAY_MAKERS


def may_hold_array(node: ast.AST) -> bool:
    """A value, not a test: a name, an attribute, a subscript or a `.get(...)`."""
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Attribute) and node.func.attr == "get"
    return isinstance(node, (ast.Name, ast.Attribute, ast.Subscript))


class ArrayOrDefault(Rule):
    """MLX258: `mask = inputs.get("attention_mask") or mx.ones_like(input_ids)`."""

    id = "MLX258"
    anchors = ("or mx.",)
    local = True  # one expression

    @staticmethod
    def may_fire(text: str) -> bool:
        return "or mx." in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BoolOp):
            if isinstance(node.op, ast.Or) and makes_array(source, node.values[-1]) \
                    and all(map(may_hold_array, node.values[:-1])):
                yield self.hit(source, node)
