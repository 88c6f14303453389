"""MLX217: an array parameter built in a module's `__init__` that nothing reads: it never
reaches the output, so its gradient is exactly zero and it keeps its initial value.

Measured (mlx 0.32.4 CPU, failure corpus fresh203 `vlm_loralayer_call_passthrough`, mlx-vlm
0ad76c6 put the adapter's path back): a LoRA layer whose `__call__` returned the frozen base
layer's output, its `(x @ self.A) @ self.B` update commented out, trained only A and B: the
gradient norm read 0.0000 at every report, the loss stayed near 15.7 and the held-out
accuracy at 0.000 over 400 iterations; with the update added back the loss fell 2.30 -> 0.29
and the accuracy rose to 0.82.

Job: in an nn.Module subclass of a file that trains (`calls_and_trains`), a `self.x = ...`
in `__init__` whose value is one of MLX's array initialisers (`mx.zeros`, `mx.ones`,
`mx.full`, `mx.random.normal`, `mx.random.uniform`, ..., scaled or cast: a parameter, not a
buffer another op builds from one, such as a causal mask), with `.x` read nowhere in the file
and named in no string (`getattr`, `freeze(keys=[...])`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, self_attr
from ..markers import bound_before, read_once
from ..source import SourceFile
from .base import Rule, calls_and_trains
from .siblings import inits, unread_attributes

INITIALISERS = frozenset(f"mlx.core.{name}" for name in (
    "zeros", "ones", "full", "random.normal", "random.uniform", "random.truncated_normal",
    "random.bernoulli"))


def unread_in_text(text: str) -> bool:
    """A `self.x = mx.` binding whose `.x` occurs nowhere else in the text."""
    return any(read_once(text, name) for name in bound_before(text, " = mx."))


class UnreadParameter(Rule):
    """MLX217: `self.B = mx.zeros((r, d))` in `__init__`, and no `.B` anywhere else."""

    id = "MLX217"
    anchors = (" = mx.",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "self." in text and calls_and_trains(text) and unread_in_text(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        unread = unread_attributes(source)
        for init in inits(source):
            for target, value in body_assignments(source, init):
                if self_attr(target) in unread and initialised(source, value):
                    yield self.hit(source, target)


def initialised(source: SourceFile, value: ast.AST) -> bool:
    """`value` is one of MLX's array initialisers' results, scaled or cast
    (`mx.random.normal(shape) * 0.01`, `mx.zeros(shape).astype(dtype)`); the initialiser
    inside another op (`mx.tril(mx.ones(...))`, a mask) is a buffer."""
    if isinstance(value, ast.BinOp):
        return initialised(source, value.left) or initialised(source, value.right)
    if not isinstance(value, ast.Call):
        return False
    if isinstance(value.func, ast.Attribute) and value.func.attr == "astype":
        return initialised(source, value.func.value)
    return source.imports.resolve(value.func) in INITIALISERS
