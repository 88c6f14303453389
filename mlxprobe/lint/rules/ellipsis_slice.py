"""MLX253: an Ellipsis used as a slice's bound: `z[... :, None]`, `x[1:..., 0]`. Python reads
`... :` as the slice `slice(Ellipsis, None)` (a comma is missing after the `...`), and MLX
raises `ValueError: Slice indices must be integers or None.` the first time the line runs
(NumPy a TypeError): no program means a slice from Ellipsis. Meant: `z[..., :, None]`.

Measured (mlx 0.32.4 CPU, failure corpus fresh261 `kelp_lidar_finepass`, nerf_meets_mlx
8b5ef8c "fix: missing comma"): a NeRF's fine pass built its sample points with
`rays_d[..., None, :] * z_vals[... :, None]` and died at its first fine iteration (51) with
that ValueError; with the comma it trained.

Job: every slice in a subscript whose lower, upper or step bound is the `...` constant.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

# `... :` or `: ...` in the text: a slice bound by an Ellipsis cannot be written without one
SLICED = re.compile(r"\.\.\.\s*:|:\s*\.\.\.")


def ellipsis_bound(node: ast.Slice) -> bool:
    """A bound of the slice is `...`."""
    return any(isinstance(b, ast.Constant) and b.value is Ellipsis
               for b in (node.lower, node.upper, node.step))


class EllipsisSlice(Rule):
    """MLX253: `z[... :, None]`: a slice from Ellipsis, a comma missing."""

    id = "MLX253"
    anchors = ("...",)
    local = True  # reads one expression

    @staticmethod
    def may_fire(text: str) -> bool:
        return "..." in text and SLICED.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Slice):
            if ellipsis_bound(node):
                yield self.hit(source, node)
