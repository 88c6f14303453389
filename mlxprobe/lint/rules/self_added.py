"""MLX215: `x += x` (or `x = x + x`): a name added to itself doubles it, where a running total
was meant (`total += x`). Written in a loop over batches after `x = step(...)`, the "sum" is
twice the last batch's value, and the average printed from it is wrong by a factor of
n_batches / 2; nothing fails.

Measured (mlx 0.32.4 CPU, failure corpus fresh200 `rookery_selfplay_l2`, mlx-playground
ebf1842): a self-play trainer logged `Average l2 loss` from `l2_loss += l2_loss`: 0.0134 ->
0.0239 over 8 epochs while the per-epoch parts no longer summed to the total (2.3001 against
2.4672); with an `l2_total` accumulator the average read 0.0885 -> 0.1910 and the parts summed.

Job: an augmented `+=` whose target and value are the same plain name, or an assignment
`x = x + x`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule


class SelfAdded(Rule):
    """MLX215: `x += x`: a doubling where a running total was meant."""

    id = "MLX215"
    anchors = ("+=", "+ ")
    local = True  # reads one statement

    @staticmethod
    def may_fire(text: str) -> bool:
        return "+" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.AugAssign, ast.Assign):
            if doubled(node):
                yield self.hit(source, node)


def doubled(node: ast.AST) -> bool:
    """`x += x` or `x = x + x`, x a plain name."""
    if isinstance(node, ast.AugAssign):
        return isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name) and \
            isinstance(node.value, ast.Name) and node.value.id == node.target.id
    value = node.value  # type: ignore[attr-defined]
    return len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and isinstance(  # type: ignore[attr-defined]
        value, ast.BinOp) and isinstance(value.op, ast.Add) and all(
        isinstance(side, ast.Name) and side.id == node.targets[0].id  # type: ignore[attr-defined]
        for side in (value.left, value.right))
