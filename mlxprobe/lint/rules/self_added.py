"""MLX215: `x += x`: a name added to itself doubles it, where a running total
was meant (`total += x`). Written in a loop over batches after `x = step(...)`, the "sum" is
twice the last batch's value, and the average printed from it is wrong by a factor of
n_batches / 2; nothing fails.

Measured (mlx 0.32.4 CPU, failure corpus fresh200 `rookery_selfplay_l2`, mlx-playground
ebf1842): a self-play trainer logged `Average l2 loss` from `l2_loss += l2_loss`: 0.0134 ->
0.0239 over 8 epochs while the per-epoch parts no longer summed to the total (2.3001 against
2.4672); with an `l2_total` accumulator the average read 0.0885 -> 0.1910 and the parts summed.

Job: an augmented `+=` whose target and value are the same plain name (the text test walks the
`+=` of the text with `str.find`: a regex with no literal head tries every position).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..markers import occurrences, word_before
from ..source import SourceFile
from .base import Rule


class SelfAdded(Rule):
    """MLX215: `x += x`: a doubling where a running total was meant."""

    id = "MLX215"
    anchors = ("+=",)
    local = True  # reads one statement

    @staticmethod
    def may_fire(text: str) -> bool:
        return any(after.startswith(name) for name, after in added(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.AugAssign):
            if isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name) and \
                    isinstance(node.value, ast.Name) and node.value.id == node.target.id:
                yield self.hit(source, node)


def added(text: str) -> Iterator[tuple[str, str]]:
    """(the word before, the text after) each ` += ` of the text."""
    for at in occurrences(text, " += "):
        name = word_before(text, at)
        if name:
            yield name, text[at + 4:at + 5 + len(name)]
