"""MLX148: an MLX array indexed with a comparison (`x[mask == 1]`, `x[x > 0]`): MLX has no
boolean indexing, the NumPy and PyTorch habit of selecting a data-dependent number of
elements; it raises "boolean indices are not yet supported" (an `mx.array` mask), or "Cannot
index mlx array using the given type" (a NumPy mask, a Python bool), when the line first
runs.

Measured (mlx 0.32.4 CPU): `x[x > 1]`, `x[np.array([1, 0, 1, 0]) == 1]` and `x[True]` all
raise ValueError for `x = mx.arange(4.0)`. Failure corpus fresh40 `distill_kl_mask_stats`
(a masked KL's statistics as `kl_per_token[mask == 1]`): ValueError at the first report; its
fix weights by the mask, `(kl * mask).sum() / mask.sum()`.

Job: a subscript, or one part of a tuple index, that is a comparison, of a value the
dataflow pass sees as an MLX array (`arrays_in`) and that no binding makes a NumPy array.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule
from .numpy_index import array_indices

COMPARED = re.compile(r"\[[^\]\n]*\s(?:==|!=|<=|>=|<|>)\s[^\]\n]*\]")  # spaced: not `->`


class BooleanMaskIndex(Rule):
    """MLX148: `kl_per_token[mask == 1]` with `kl_per_token` an MLX array."""

    id = "MLX148"
    anchors = ("[",)
    local = True  # one top-level definition's dataflow, as MLX134 reads it
    file_words = "mlx\n"

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mlx" in text and COMPARED.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for index in array_indices(source, lambda part: isinstance(part, ast.Compare)):
            yield self.hit(source, index)
