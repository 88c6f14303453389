"""MLX203: `x = mx.max(x, 0)` (or `mx.min`): a clamp written with the reduction. MLX's
`mx.max(a, axis)` takes the axis as its second argument, so the call reduces `x` over axis 0
(the batch, in a layer's forward) and rebinds the name to the smaller array, which then
broadcasts silently where the whole one was meant; `mx.maximum(x, 0)` is the elementwise
clamp (PyTorch spells it `torch.clamp(x, min=0)`, NumPy `np.maximum`).

Measured (mlx 0.32.4 CPU, failure corpus fresh189 `moshi_scaled_embed_batch_max`, moshi
787a305): an embedding that clamped its padding id with `input = mx.max(input, 0)` looked up
every row of the batch with the per-position batch maximum; the codebook LM stayed at chance,
3.46 -> 3.40 against ln 32 = 3.466, while `mx.maximum(input, 0)` reached 0.002 by step 25.

Job: an assignment whose value is a call resolved to `mlx.core.max` or `mlx.core.min` with
exactly two positional arguments and no keyword, the first the very name assigned and the
second the literal 0: a reduction rebound to its own operand's name over axis 0 reads as an
in-place clamp. `h = mx.max(h, 1)` (a max-pool over the sequence) and `mx.max(x, axis=0)`
are left alone: an axis other than the batch's, or one named, is a reduction meant.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

REDUCTIONS = frozenset({"mlx.core.max", "mlx.core.min"})
# on one line (searched in that line only): `x = mx.max(x, 0)`
CLAMP = re.compile(r"(\w+) = [\w.]*\b(?:max|min)\(\1, 0(?:\.0)?\)$")


class ReductionAsClamp(Rule):
    """MLX203: `x = mx.max(x, 0)`: a reduction over axis 0 where a clamp was meant."""

    id = "MLX203"
    anchors = (", 0)", ", 0.0)")
    local = True  # reads one assignment

    @staticmethod
    def may_fire(text: str) -> bool:
        for marker in (", 0)", ", 0.0)"):
            at = text.find(marker)
            while at != -1:
                line = text[text.rfind("\n", 0, at) + 1:at + len(marker)]
                if CLAMP.search(line):
                    return True
                at = text.find(marker, at + 1)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            call = node.value
            if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and isinstance(call, ast.Call) and clamp_spelled(source, call,
                                                                     node.targets[0].id):
                yield self.hit(source, call)


def clamp_spelled(source: SourceFile, call: ast.Call, name: str) -> bool:
    """`mx.max(name, 0)` or `mx.min(name, 0)`, no keyword."""
    if call.keywords or len(call.args) != 2 or source.imports.resolve(call.func) \
            not in REDUCTIONS:
        return False
    operand, axis = call.args
    return isinstance(operand, ast.Name) and operand.id == name and \
        isinstance(axis, ast.Constant) and type(axis.value) in (int, float) and axis.value == 0
