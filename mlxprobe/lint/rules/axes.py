"""MLX078: `mx.softmax(x)` or `mx.logsumexp(x)` with no axis: MLX reduces over every axis of
the array, the whole batch at once.

Job: find calls of `mx.softmax` and `mx.logsumexp` given no `axis` (neither positionally
nor by keyword). MLX's default is `axis=None`: all axes, so attention weights or class
probabilities are normalised over the whole batch (every example's weights sum to a share of
1, not to 1), where PyTorch's `softmax(dim=-1)` and `nn.softmax` / `nn.log_softmax` (which
default to the last axis) normalise each row. Measured (mlx 0.32.4 CPU, failure corpus
fresh8 `a8_attn_pool_softmax_noaxis`, mlx issue 1041): attention pooling with `mx.softmax(s)`
flattened out from epoch 3 (train_ce 1.24 -> 0.85) while val_acc fell 0.51 -> 0.28; with
`axis=-1` it learned. A 1-D vector has one axis and needs none, and nothing static tells
a vector from a batch; so the call is named only in a forward pass (a module's `__call__`
or a differentiated function) on a layer's output (through local names), and not on a slice
(`scores[s:e]`: per-example segments, 1-D): MLX's own packages call it on 1-D logits when
they sample.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import forwards, layer_output
from ..finding import Finding
from ..flow import assignments, body_nodes, calls, name_bindings
from ..source import SourceFile
from .base import Rule

ALL_AXES = frozenset({"mlx.core.softmax", "mlx.core.logsumexp"})
# a call with one argument and no keyword: no comma at its top level, outside brackets and
# calls (nested two deep; deeper ones are not read, and the rule is not tried there)
ONE_ARGUMENT = re.compile(r"\b(?:softmax|logsumexp)\((?:[^(),\[\]]|\[[^\[\]]*\]"
                          r"|\((?:[^()]|\([^()]*\))*\))*\)")


def one_argument_call(text: str) -> bool:
    """`ONE_ARGUMENT.search(text)`, tried only where `softmax(` or `logsumexp(` starts a word:
    a regex with no literal head tries every position (0.08 s of the three packages)."""
    for word in ("softmax(", "logsumexp("):
        at = text.find(word)
        while at >= 0:
            if (at == 0 or not (text[at - 1].isalnum() or text[at - 1] == "_")) and \
                    ONE_ARGUMENT.match(text, at) is not None:
                return True
            at = text.find(word, at + 1)
    return False


class NoAxisNormalisation(Rule):
    """MLX078: `mx.softmax(scores)` without `axis=`."""

    id = "MLX078"
    anchors = ("softmax(", "logsumexp(")
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("softmax(" in text or "logsumexp(" in text) and (
            "__call__" in text or "grad(" in text) and one_argument_call(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in forwards(source):
            nodes = body_nodes(source, function)
            bound = name_bindings(assignments(nodes))
            for call in calls(nodes):
                if self._all_axes(source, call) and not isinstance(
                        call.args[0], ast.Subscript) and layer_output(
                        source, call.args[0], bound):
                    yield self.hit(source, call)

    @staticmethod
    def _all_axes(source: SourceFile, call: ast.Call) -> bool:
        return source.imports.resolve(call.func) in ALL_AXES and len(call.args) == 1 and not any(
            k.arg in ("axis", None) for k in call.keywords)
