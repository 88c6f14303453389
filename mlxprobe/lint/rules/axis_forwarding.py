"""MLX272: a function that takes an `axis` (or `axes`, `dim`) and hands it on to some of its
calls drops it at another call to a function that takes it: `log_softmax(output)` beside
`mx.sum(output, axis=axis)` in a cross-entropy written for any axis. The dropped call runs
on its own default (the last axis, or every axis for `mx.softmax`), so the function is right
only for the axis the default happens to be, and a caller that passes another gets a loss
over the wrong axis with no error.

Measured (mlx 0.32.4 CPU, failure corpus fresh292 `loomweft_tally_crossent`, keras PR
#23076's MLX backend): `categorical_crossentropy(target, output, from_logits=True, axis=1)`
on logits shaped (batch, classes, 1, 1) took `log_softmax(output)` over the last axis, of
size 1, while its sum ran over axis 1: log_prob exactly 0, the loss 0.0000 from the first
step and every gradient 0; with `log_softmax(output, axis=axis)` it trained.

Job: per function with a parameter `axis`, `axes` or `dim` that it forwards by keyword
(`axis=axis`) to at least one call, each other call in its own
body to a function that takes a parameter of that name (the module's own top-level
functions, by their signature; `mlx.core`'s with one signature, by their recorded keywords
and positions: an axis given by position to one of several signatures is not known) and
is given none (no keyword, no argument in that slot, no `*args`/`**kwargs`). Reductions
(`mx.sum(loss)`, `mx.mean`, `mx.max`, norms) are left out: a final mean over every axis is
what a loss returns.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import arguments, body_nodes, starred
from ..mlx_keywords import KEYWORDS
from ..mlx_positions import POSITIONS
from ..source import FUNCTIONS, SourceFile
from .base import Rule

AXIS_NAMES = frozenset({"axis", "axes", "dim"})
# `mlx.core` functions whose value drops the axes they are not given: with no axis they
# reduce everything, which a loss's last line means (a forwarding to one is evidence still)
REDUCTIONS = frozenset(f"mlx.core.{n}" for n in (
    "sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "all", "any", "argmax",
    "argmin", "logcumsumexp", "median", "count_nonzero")) | frozenset(
    {"mlx.core.linalg.norm"})
Signature = tuple[list[str], set[str]]  # (positional parameters in order, every parameter)


def signature(function: ast.AST) -> Signature:
    args = function.args  # type: ignore[attr-defined]
    return [a.arg for a in (*args.posonlyargs, *args.args)], arguments(function)


def callee(source: SourceFile, call: ast.Call, local: dict[str, ast.AST]) -> Signature | None:
    """The called function's parameters, where the module or `mlx.core` says them."""
    if isinstance(call.func, ast.Name) and call.func.id in local:
        return signature(local[call.func.id])
    name = source.imports.resolve(call.func)
    if name in KEYWORDS and name in POSITIONS and name not in REDUCTIONS:  # positions known
        return list(POSITIONS[name]), set(KEYWORDS[name])
    return None


def given(call: ast.Call, name: str, positional: list[str]) -> ast.AST | None:
    """What the call passes for parameter `name` (the call itself when unknown: `*args`)."""
    if starred(call):
        return call
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    slot = positional.index(name) if name in positional else len(call.args)
    return call.args[slot] if slot < len(call.args) else None


def forwarded(call: ast.Call, name: str) -> bool:
    """The call hands the parameter on by its own name: `axis=axis`."""
    return any(k.arg == name and isinstance(k.value, ast.Name) and k.value.id == name
               for k in call.keywords)


class AxisNotForwarded(Rule):
    """MLX272: `def f(x, axis=-1)` calls `g(x, axis=axis)` and then `h(x)`, `h` taking `axis`."""

    id = "MLX272"
    anchors = ("axis=axis", "axes=axes", "dim=dim")

    @staticmethod
    def may_fire(text: str) -> bool:
        return any(f"{n}={n}" in text for n in AXIS_NAMES)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        local = {f.name: f for f in source.tree.body if isinstance(f, FUNCTIONS)}
        for function in source.of_type(*FUNCTIONS):
            names = AXIS_NAMES & arguments(function)
            if names:
                yield from self._dropped(source, function, names, local)

    def _dropped(self, source: SourceFile, function: ast.AST, names: set[str],
                 local: dict[str, ast.AST]) -> Iterator[Finding]:
        every = [c for c in body_nodes(source, function) if isinstance(c, ast.Call)]
        calls = [(c, s) for c in every if (s := callee(source, c, local)) is not None]
        for name in sorted(n for n in names if any(forwarded(c, n) for c in every)):
            yield from (self.hit(source, c) for c, (positional, taking) in calls
                        if name in taking and given(c, name, positional) is None)
