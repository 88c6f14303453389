"""MLX164: a loss already reduced to one number (`reduction="mean"` or `"sum"`, given or the
default of `mse_loss`, `l1_loss`, `smooth_l1_loss`, `binary_cross_entropy`,
`gaussian_nll_loss`), then multiplied by an array and reduced again: `(nll * mask).sum() /
mask.sum()`. A mask or per-element weights cannot act on a scalar: the padded or down-weighted
elements were averaged in before the product, and the "masked" loss is the plain mean.

Measured (mlx 0.32.4 CPU, failure corpus fresh56 `solar_gnll_mask`, mlx PR 3715 corrected the
docstring that gave gaussian_nll_loss's default as "none"): zero-padded readings (36% of the
grid) were fitted as real ones: validation RMSE 1.07 kW, 1.88 kW late in the day (no better
than climatology, 1.84); with `reduction="none"` 0.245 kW.

Job: a local name bound to such a loss call, read in a product with a non-constant operand
that is then reduced (`.sum()`, `.mean()`, `mx.sum(...)`, `mx.mean(...)`) in the same
function. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, body_nodes
from ..loss_signatures import reduction_index
from ..source import FUNCTIONS, SourceFile
from .base import Rule

# mlx.nn.losses functions whose `reduction` defaults to "mean" -> its positional index
DEFAULT_MEAN = reduction_index("mean")
REDUCERS = frozenset({"sum", "mean"})
MX_REDUCERS = frozenset({"mlx.core.sum", "mlx.core.mean"})


def reduced(source: SourceFile, call: ast.AST) -> bool:
    """A loss call whose result is one number: `reduction` "mean"/"sum" given, or not given
    to a loss whose default is "mean"."""
    if not (isinstance(call, ast.Call) and (source.imports.resolve(call.func) or "")
            .startswith("mlx.nn.losses.")):
        return False
    given = next((k.value for k in call.keywords if k.arg == "reduction"), None)
    if given is not None:
        return isinstance(given, ast.Constant) and given.value in ("mean", "sum")
    index = DEFAULT_MEAN.get(source.imports.resolve(call.func) or "")
    return index is not None and len(call.args) <= index and not any(
        isinstance(a, ast.Starred) for a in call.args)


def rereduced(source: SourceFile, product: ast.BinOp) -> bool:
    """The product is reduced: `(a * b).sum()`, `mx.sum(a * b)`, `.mean()` alike."""
    parent = source.parents.get(product)
    if isinstance(parent, ast.Attribute) and parent.attr in REDUCERS:
        return isinstance(source.parents.get(parent), ast.Call)
    return isinstance(parent, ast.Call) and bool(parent.args) and parent.args[0] is product \
        and source.imports.resolve(parent.func) in MX_REDUCERS


class ScalarMasked(Rule):
    """MLX164: `nll = gaussian_nll_loss(...)` (a mean), then `(nll * mask).sum()`."""

    id = "MLX164"
    anchors = ("losses",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "losses" in text and " * " in text and (".sum(" in text or ".mean(" in text
                                                          or "mx.sum(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            scalars = {t.id for t, v in body_assignments(source, function)
                       if isinstance(t, ast.Name) and reduced(source, v)}
            for node in body_nodes(source, function) if scalars else ():
                if self._masked(source, node, scalars):
                    yield self.hit(source, node)

    @staticmethod
    def _masked(source: SourceFile, node: ast.AST, scalars: set[str]) -> bool:
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
            return False
        sides = (node.left, node.right)
        named = [s for s in sides if isinstance(s, ast.Name) and s.id in scalars]
        other = [s for s in sides if s not in named]
        return bool(named) and bool(other) and not isinstance(other[0], ast.Constant) \
            and rereduced(source, node)
