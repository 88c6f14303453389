"""MLX150: predictions tested for membership in the batch's labels (`np.isin(preds, targets)`,
`np.in1d`): `isin` asks whether each prediction equals ANY element of the second array, so
a sample counts as correct when its predicted class is anyone's label in the batch. With
every class in a batch the accuracy reads perfect even for an untrained model.

Measured (mlx 0.32.4 CPU, failure corpus fresh44 `topk_isin_accuracy`, mlx-image PR 25): a
top-k accuracy `np.any(np.isin(preds_at_k, targets_at_k), axis=1)` read acc@1 = 1.000 before
training and at every epoch while the validation cross-entropy fell 2.32 -> 0.51; compared
row by row, `(preds_at_k == targets[:, None]).any(axis=1)`, it read 0.077 -> 0.835.

Job: a `numpy.isin` / `numpy.in1d` call whose first argument is derived from predictions: it
holds, directly or through local names (a few bindings deep, `np.array(...)` and slices
included), an `argmax`, `argsort`, `argpartition` or `topk` over each row of a batch (`axis`
1 or -1; a function of numpy or mlx.core, or a method).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import local_values
from ..names import last_name
from ..source import SourceFile, descendants
from .base import Rule

MEMBERSHIP = frozenset({"numpy.isin", "numpy.in1d"})
RANKINGS = frozenset({"argmax", "argsort", "argpartition", "topk"})
DEPTH = 4


def ranked(source: SourceFile, node: ast.AST, depth: int = DEPTH) -> bool:
    """`node` holds a ranking of scores (an argmax, argsort, argpartition, topk), directly or
    through local names bound to such expressions."""
    for part in [node, *descendants(node)]:
        if isinstance(part, ast.Call) and _ranking(source, part):
            return True
        if isinstance(part, ast.Name) and depth > 0 and any(
                ranked(source, v, depth - 1) for v in local_values(source, part, part)):
            return True
    return False


def _ranking(source: SourceFile, call: ast.Call) -> bool:
    """A ranking of each row of a batch: `argsort(logits, axis=1)`, `argmax(..., axis=-1)`
    (a ranking of one vector, `np.argsort(d)` of one query's distances tested against its
    set of relevant items, is how retrieval metrics are computed: fresh45
    `poincare_tree_rsgd`)."""
    name = source.imports.resolve(call.func) or ""
    last = name.rpartition(".")[2] if name else last_name(call.func)
    if last not in RANKINGS:
        return False
    axes = [k.value for k in call.keywords if k.arg == "axis"] + call.args[1:2] * (
        last != "topk")
    return any(isinstance(a, ast.Constant) and a.value in (1, -1) or isinstance(
        a, ast.UnaryOp) and isinstance(a.operand, ast.Constant) and a.operand.value == 1
               for a in axes)


class BatchMembership(Rule):
    """MLX150: `np.isin(preds_at_k, targets_at_k)` for an accuracy."""

    id = "MLX150"
    anchors = ("isin(", "in1d(")

    @staticmethod
    def may_fire(text: str) -> bool:
        return "isin(" in text or "in1d(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if (last_name(call.func) in ("isin", "in1d") and call.args
                    and source.imports.resolve(call.func) in MEMBERSHIP
                    and ranked(source, call.args[0])):
                yield self.hit(source, call)
