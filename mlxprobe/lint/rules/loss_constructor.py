"""MLX201: an `mlx.nn.losses` function called with fewer than its two required arguments,
most often none (`loss_fct = nn.losses.cross_entropy()`): PyTorch's losses are modules built
first and called later (`nn.CrossEntropyLoss()`), MLX's are plain functions of (predictions,
targets), so the call raises `TypeError: cross_entropy() missing 2 required positional
arguments: 'logits' and 'targets'` where it runs, often only on the branch that computes a
loss (when labels are given).

Measured (mlx 0.32.4 CPU, failure corpus fresh187 `xlmr_seqcls_lossfct_call`,
mlx-transformers 88f8e6b): a sequence-classification head's `loss_fct =
nn.losses.cross_entropy()` raised that TypeError at the first training step; kept as the
function (`loss_fct = nn.losses.cross_entropy`) it trained, eval_acc 0.973.

Job: calls resolved to a function of `mlx.nn.losses` (every one takes at least predictions
and targets: mlx 0.32.4's take 2 or 3) given fewer than two arguments, none starred.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import starred
from ..mlx_api import MODULES
from ..source import SourceFile
from .base import Rule

LOSSES = "mlx.nn.losses."
REQUIRED = 2



class LossCalledAsConstructor(Rule):
    """MLX201: `nn.losses.cross_entropy()`: a loss function built like a PyTorch module."""

    id = "MLX201"
    anchors = ("losses.",)
    local = True  # reads one call

    @staticmethod
    def may_fire(text: str) -> bool:
        return "losses." in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        known = MODULES.get("mlx.nn.losses", frozenset())
        for call in source.of_type(ast.Call):
            name = source.imports.resolve(call.func) or ""
            if name.startswith(LOSSES) and name[len(LOSSES):] in known and not starred(call) \
                    and len(call.args) + len(call.keywords) < REQUIRED:
                yield self.hit(source, call)
