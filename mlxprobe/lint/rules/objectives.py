"""Rules about what a loss function computes, stated on MLX's loss API: MLX067 (`nll_loss`
handed a model's raw scores in a module where nothing computes log-probabilities), MLX068
(`cosine_similarity_loss`, the similarity itself, returned as the loss a gradient minimises),
MLX086 (a loss that squashes its input itself handed a sigmoid's or softmax's output).

Job: `mlx.nn.losses.nll_loss(inputs, targets)` is `-inputs[targets]`: it expects
log-probabilities, and on raw scores it rewards making the target's score large without
bound (the scores grow until they overflow; failure corpus fresh7 `nll_loss_raw_logits`:
NaN at step 29). `mlx.nn.losses.cosine_similarity_loss(x1, x2)` returns the cosine similarity
(1 for aligned pairs), not a distance: minimised as it is, it pushes the pairs apart (mlx PR
336; fresh7 `cosine_similarity_minimized`: recall@1 0.000 while the "loss" fell to -0.96).

MLX067 fires where the first argument of `nll_loss` is a call's result (`model(x)`, a layer,
directly or through a local name) and no text of the module computes log-probabilities
(`log_softmax`, `LogSoftmax`, `logsumexp`, `log(` of anything): a model that returns them
would have one. MLX068 fires where a differentiated function returns (as its loss, the first
of a tuple) `cosine_similarity_loss(...)` or a mean/sum of it, not negated and not
subtracted from something; one term among others of a sum (a decorrelation penalty) is
left alone.

MLX086 fires where the first argument of `binary_cross_entropy` (without
`with_logits=False`; MLX's default is True) is `mx.sigmoid(...)`, directly or through a local
name, or that of `cross_entropy` (which always takes logits) is `mx.softmax(...)`: the
probabilities are squashed a second time, into (0.5, 0.73) for a sigmoid, so the loss sits near
ln 2 and barely moves. Measured (mlx 0.32.4 CPU, failure corpus fresh10
`b10_bce_sigmoid_twice`): train_bce 0.6931-0.6932 for 8 epochs, 0.6795 at 12; passing the
logits, 0.29 -> 0.05. The same holds where the argument is `model(x)` and `model` is bound to
one of the module's own classes whose `__call__` ends in the squashing on every return (the
last binding of a returned name counts): fresh31 `glyph_cnn_softmax_head`, a LeNet ending in
`nn.softmax` under `cross_entropy`, sat at 1.55 (floor 1.46) while its twin reached 0.005.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import returns_of, under
from ..finding import Finding
from ..flow import instance_method, local_values
from ..source import SourceFile
from .base import Rule
from .transforms import first

NLL = frozenset({"mlx.nn.losses.nll_loss"})
COSINE = frozenset({"mlx.nn.losses.cosine_similarity_loss"})
LOG_PROBS = re.compile(r"log_softmax|LogSoftmax|logsumexp|\blog\(")
REDUCTIONS = frozenset({"mean", "sum"})


class NllOnScores(Rule):
    """MLX067: `nn.losses.nll_loss(model(x), y)` in a module that never takes a log of a
    probability."""

    id = "MLX067"
    anchors = ("nll_loss",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "nll_loss" in text and LOG_PROBS.search(text) is None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if LOG_PROBS.search(source.text):
            return
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in NLL or not call.args:
                continue
            given = call.args[0]
            producers = [given, *local_values(source, call, given)]
            if any(isinstance(p, ast.Call) for p in producers):
                yield self.hit(source, call)


class SimilarityMinimised(Rule):
    """MLX068: a differentiated function returns `cosine_similarity_loss(...)` as its loss."""

    id = "MLX068"
    anchors = ("cosine_similarity_loss",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "cosine_similarity_loss" in text and "grad(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function, _ in under(source, "grad"):
            for result in map(first, returns_of(function)):
                found = self._similarity(source, result)
                if found is not None:
                    yield self.hit(source, found)

    def _similarity(self, source: SourceFile, node: ast.AST, depth: int = 2) -> ast.Call | None:
        """The cosine call `node` is (through a mean/sum or a local name), or None."""
        if isinstance(node, ast.Name) and depth:
            for value in local_values(source, node, node):
                if (found := self._similarity(source, value, depth - 1)) is not None:
                    return found
            return None
        if not isinstance(node, ast.Call):
            return None
        if source.imports.resolve(node.func) in COSINE:
            return node
        inner = _reduced(source, node)
        return self._similarity(source, inner, depth) if inner is not None else None


def _reduced(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The argument of `mx.mean(x)`, `x.mean()`, `mx.sum(x)`; None for another call."""
    name = source.imports.resolve(call.func) or ""
    if name in ("mlx.core.mean", "mlx.core.sum") and call.args:
        return call.args[0]
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in REDUCTIONS and not name:
        return func.value
    return None


# MLX086: a loss that applies its own sigmoid/softmax (the default, `with_logits=True`, of
# `binary_cross_entropy`; `cross_entropy` always) handed probabilities: squashed twice.
SQUASHED = {"mlx.nn.losses.binary_cross_entropy": frozenset({"mlx.core.sigmoid",
                                                             "mlx.nn.sigmoid"}),
            "mlx.nn.losses.cross_entropy": frozenset({"mlx.core.softmax", "mlx.nn.softmax"})}


def takes_logits(call: ast.Call) -> bool:
    """The loss call applies its own squashing: no `with_logits=False`."""
    return not any(k.arg == "with_logits" and isinstance(k.value, ast.Constant)
                   and k.value.value is False for k in call.keywords)


class ProbabilitiesAsLogits(Rule):
    """MLX086: `nn.losses.binary_cross_entropy(mx.sigmoid(logits), y)` (with_logits left at
    True), `nn.losses.cross_entropy(mx.softmax(logits), y)`."""

    id = "MLX086"
    anchors = ("cross_entropy",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("binary_cross_entropy" in text and "sigmoid" in text) or (
            "cross_entropy" in text and "softmax" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            squash = SQUASHED.get(source.imports.resolve(call.func) or "")
            if squash is None or not call.args or not takes_logits(call):
                continue
            given = call.args[0]
            producers = [given, *local_values(source, call, given)]
            if any(isinstance(p, ast.Call) and (_squashes(source, p, squash)
                                                or _forward_squashes(source, p, squash))
                   for p in producers):
                yield self.hit(source, given)


def _squashes(source: SourceFile, call: ast.Call, squash: frozenset[str]) -> bool:
    return source.imports.resolve(call.func) in squash


def _forward_squashes(source: SourceFile, call: ast.Call, squash: frozenset[str]) -> bool:
    """`model(x)` with `model = Net(...)`, and every return of `Net.__call__` is the squashing
    (directly, or the last binding of the name it returns)."""
    if not isinstance(call.func, ast.Name):
        return False
    forward = instance_method(source, call.func.id, "__call__")
    ends = [_last_value(source, r) for r in returns_of(forward)] if forward else []
    return bool(ends) and all(isinstance(e, ast.Call) and _squashes(source, e, squash)
                              for e in ends)


def _last_value(source: SourceFile, returned: ast.AST) -> ast.AST:
    """A returned expression, or the value of the last binding of the name it returns."""
    values = local_values(source, returned, returned)
    return max(values, key=lambda v: (v.lineno, v.col_offset)) if values else returned
