"""MLX049: per-token scores taken at shifted targets (`targets = x[:, 1:]`) multiplied by a
mask sliced the other way (`mask[:, :-1]`).

Job: in one function, follow local names from a product's two sides: one side gathers at a
name bound to `x[:, 1:]` (`take_along_axis(logp, targets[..., None])`, `cross_entropy(logits,
targets)`), the other is a slice `y[:, :-1]` of another array. Score t is the prediction of
token t + 1, and the mask that weights it must be shifted like the targets (`mask[:, 1:]`);
sliced like the inputs, each weight sits one position early, so the loss scores the token
after the one marked (mlx-lm-lora#80: get_logps with `mask[:, :-1]`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..names import last_name
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule
from .losses import is_sequence_shift
from .numerics import function_bindings

SCORES = frozenset({"take_along_axis", "cross_entropy", "nll_loss", "binary_cross_entropy"})
DEPTH = 3


def is_target_shift(node: ast.AST) -> bool:
    """`x[:, 1:]` or `x[..., 1:]`: the next tokens, batch first."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple)):
        return False
    if len(node.slice.elts) != 2:
        return False
    first, second = node.slice.elts
    whole = isinstance(first, ast.Constant) and first.value is Ellipsis or isinstance(
        first, ast.Slice) and not (first.lower or first.upper or first.step)
    return whole and isinstance(second, ast.Slice) and isinstance(
        second.lower, ast.Constant) and second.lower.value == 1 and second.upper is None


def resolved(node: ast.AST, bound: dict[str, ast.AST]) -> ast.AST:
    """Through local names, casts and squeezes: `m.astype(f)` -> m's value."""
    for _ in range(DEPTH):
        if isinstance(node, ast.Name) and node.id in bound:
            node = bound[node.id]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                node.func.attr in ("astype", "squeeze")):
            node = node.func.value
        else:
            break
    return node


def scored_at_targets(node: ast.AST, bound: dict[str, ast.AST]) -> str | None:
    """The base text x when `node` gathers scores at a name bound to `x[:, 1:]`."""
    for call in descendants(resolved(node, bound)):
        if not (isinstance(call, ast.Call) and last_name(call.func) in SCORES):
            continue
        for name in (n for a in call.args for n in descendants(a) if isinstance(n, ast.Name)):
            value = bound.get(name.id)
            if value is not None and is_target_shift(value):
                return ast.unparse(value.value)
    return None


def input_aligned(node: ast.AST, bound: dict[str, ast.AST]) -> str | None:
    """The base text y when `node` is `y[:, :-1]` (through local names and casts)."""
    node = resolved(node, bound)
    if isinstance(node, ast.Subscript) and is_sequence_shift(node):
        return ast.unparse(node.value)
    return None


class MaskShiftedLikeInputs(Rule):
    """MLX049: scores at `x[:, 1:]` times a mask `y[:, :-1]` of another array."""

    id = "MLX049"
    anchors = (":-1]",)
    local = True
    in_methods = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ":-1]" in text and "1:]" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BinOp):
            if not isinstance(node.op, ast.Mult):
                continue
            function = source.enclosing(node)
            if isinstance(function, FUNCTIONS) and self._misaligned(
                    node, function_bindings(source, function)):
                yield self.hit(source, node)

    def _misaligned(self, node: ast.BinOp, bound: dict[str, ast.AST]) -> bool:
        for score, weight in ((node.left, node.right), (node.right, node.left)):
            base = scored_at_targets(score, bound)
            mask = input_aligned(weight, bound) if base else None
            if mask is not None and mask != base:
                return True
        return False
