"""MLX126: a function run under a gradient transformation returns a sum one of whose terms is
a Python number made from an array (`reg.item()`, `float(penalty)`): the term adds to the
printed loss and gives no gradient, so the objective the run prints is not the one it
minimises (an L2 penalty that never shrinks the weights, an auxiliary loss that never trains).

Measured (mlx 0.32.4 CPU, failure corpus fresh27 `gcn_l2_item_detached`, from mlx-GCN
fix): `return l + weight_decay * l2_reg.item()` left the weights unpenalised (|W| 6.4 -> 52)
and the printed train loss rose 1.626 -> 2.617; with the penalty kept as an array the same
loss fell 1.626 -> 0.682 with |W| near 12. MLX016 judges a function whose every result is
cut; this rule one term of a sum.

Job: in the functions run under `value_and_grad`/`grad` and the module's helpers they call,
find `return a + b` (or a name the function returns, bound to such a sum) where some terms
hold `.item()`/`.tolist()` or `float(x)` of a non-constant (not a NumPy or `math` call)
and others do not.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import evaluation, under
from ..finding import Finding
from ..flow import addends, walk
from ..source import SourceFile
from .base import Rule


def host_number(source: SourceFile, node: ast.AST) -> ast.Call | None:
    """The first `.item()`/`.tolist()`, or `float(x)` of a non-constant, inside `node`."""
    for n in walk([node]):
        if isinstance(n, ast.Call) and (evaluation(source, n) == "item" and not constant_made(
                source, n.func) or (
                isinstance(n.func, ast.Name) and n.func.id == "float" and n.args
                and not isinstance(n.args[0], ast.Constant) and not host_made(source, n.args[0])
                and not constant_made(source, n.args[0]))):
            return n
    return None


def constant_made(source: SourceFile, node: ast.AST) -> bool:
    """`mx.log(2 * mx.pi).item()`: a number made from constants and library names only (no
    variable read), with no gradient to lose (fresh329 `organpipe_voicing_ema_nll`, correct,
    adds the Gaussian NLL's constant `0.5 * mx.log(2 * mx.pi).item()`)."""
    return all(source.imports.resolve(n) is not None
               for n in ast.walk(node) if isinstance(n, ast.Name))


def host_made(source: SourceFile, node: ast.AST) -> bool:
    """`np.log(s)`, `math.sqrt(d)`: a value NumPy or `math` computed is a number already, not
    an array cut from the graph (fresh258 `sledteam_pace_hold` adds `float(np.log(ys))`, a
    constant unit shift, to its NLL)."""
    if not isinstance(node, ast.Call):
        return False
    name = source.imports.resolve(node.func) or ""
    return name.startswith(("numpy.", "math."))


def returned_sums(nodes: list[ast.AST]) -> Iterator[ast.AST]:
    """Returned values, and values bound to a name some `return` of the same nodes returns."""
    returns = [n.value for n in nodes if isinstance(n, ast.Return) and n.value is not None]
    names = {r.id for r in returns if isinstance(r, ast.Name)}
    yield from (r for r in returns if not isinstance(r, ast.Name))
    yield from (n.value for n in nodes if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id in names for t in n.targets))


class DetachedLossTerm(Rule):
    """MLX126: `return loss + wd * reg.item()` in a differentiated function."""

    id = "MLX126"
    anchors = (".item()", "float(", ".tolist()")

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and (".item()" in text or "float(" in text
                                    or ".tolist()" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        seen: set[int] = set()
        for _, nodes in under(source, "grad"):
            for value in returned_sums(nodes):
                value = value.elts[0] if isinstance(value, ast.Tuple) and value.elts else value
                cuts = [host_number(source, term) for term in addends(value)]
                cut = next((c for c in cuts if c is not None), None)
                if cut is not None and None in cuts and id(cut) not in seen:
                    seen.add(id(cut))
                    yield self.hit(source, cut)
