"""MLX183: a weight decay added to an update as a number (`update + wd`) instead of as a share
of each weight (`update + wd * parameter`): every weight is pulled down by `lr * wd` at every
step whatever its value, so the decay never settles where the gradient balances it and the
loss climbs back once the pull outweighs the update.

Measured (mlx 0.32.4 CPU, failure corpus fresh138 `kilnwatt_adamw`, mlx-playground 6d649d7
"AdamW correction"): a hand-written AdamW returning `parameter - lr * (m / (mx.sqrt(v) + eps)
+ wd)` reached train mse 0.116 at iteration 600, then climbed at every report to 0.503 at
2,400 (val 0.17 -> 0.80, the predict-the-mean baseline 0.99); with `wd * parameter` it fell to
0.0195.

Job: in a function, a sum one of whose terms is a weight-decay value alone (a name or an
attribute `weight_decay`/`wd`, or a local bound to one, times numbers) beside a term that
reads the function's arguments (the update of an array): `1 - lr * wd` (a factor of the
parameter, as mlx.optimizers.AdamW writes it) has no such sibling and is left alone.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import addends, arguments, assignments, body_nodes, names_in
from ..source import FUNCTIONS, SourceFile
from .base import Rule

SUMS = (ast.Add, ast.Sub)
DECAY_NAMES = frozenset({"weight_decay", "wd", "decay_rate", "l2_decay"})


def decay_names(source: SourceFile, function: ast.AST) -> set[str]:
    """The names that hold the weight decay in a function: `weight_decay`/`wd` themselves,
    and locals bound to `self.weight_decay` or to one of those names."""
    found = set(DECAY_NAMES)
    for target, value in assignments(body_nodes(source, function)):
        if isinstance(target, ast.Name) and _decay(value, found):
            found.add(target.id)
    return found


def _decay(node: ast.AST, names: set[str]) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in DECAY_NAMES
    return isinstance(node, ast.Name) and node.id in names


def derived(source: SourceFile, function: ast.AST) -> set[str]:
    """The function's array arguments (not `self`) and the locals computed from them."""
    found = arguments(function) - {"self", "cls"}
    for _ in range(2):
        for target, value in assignments(body_nodes(source, function)):
            if isinstance(target, ast.Name) and names_in(value) & found:
                found.add(target.id)
    return found


def decay_alone(node: ast.AST, decays: set[str], arrays: set[str]) -> bool:
    """A decay value, or a product of one with numbers and plain names that hold no array
    (`lr * wd`; not `wd * parameter`)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        sides = (node.left, node.right)
        return any(decay_alone(s, decays, arrays) for s in sides) and all(
            decay_alone(s, decays, arrays) or isinstance(s, ast.Constant) or isinstance(
                s, (ast.Name, ast.Attribute)) and not names_in(s) & arrays for s in sides)
    return _decay(node, decays)


class DecayAddedAsNumber(Rule):
    """MLX183: `return parameter - lr * (m / (mx.sqrt(v) + eps) + wd)`."""

    id = "MLX183"
    anchors = ("wd", "decay")
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "def " in text and ("wd" in text or "decay" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            yield from self._sums(source, function)

    def _sums(self, source: SourceFile, function: ast.AST) -> Iterator[Finding]:
        decays, arrays = decay_names(source, function), derived(source, function)
        for node in body_nodes(source, function):
            if not (isinstance(node, ast.BinOp) and isinstance(node.op, SUMS)) or isinstance(
                    source.parents.get(node), ast.BinOp) and isinstance(
                    source.parents[node].op, SUMS):
                continue  # the whole sum once, from its outermost `+`
            parts = addends(node)
            alone = [t for t in parts if decay_alone(t, decays, arrays)]
            if alone and any(names_in(t) & arrays - decays for t in parts if t not in alone):
                yield self.hit(source, alone[0])
