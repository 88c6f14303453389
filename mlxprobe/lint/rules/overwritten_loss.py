"""MLX211: a loss bound from a call and bound again in the same block before anything reads
it: `l1, l2, e_top, p = self.quantizer_top(h)` then `l1, l2, e_btm, p =
self.quantizer_btm(h2)`, so the first loss is never added and the layers it comes from get no
gradient from it.

Measured (mlx 0.32.4 CPU, failure corpus fresh196 `mosaic_vqvae2_toploss`, mlx-vqvae2
e290507): a VQ-VAE-2 whose top quantizer's codebook and commitment losses were unpacked into
the names the bottom quantizer's then reused: the top codebook never changed (drift 0.00000,
`no_update:part`); named apart and both added, it trained.

Job: in one statement list, a statement binding a name that holds "loss" from a call (alone
or in a tuple unpacked from one), and a later statement of the same list binding it again,
with no read of the name in the statements between (at any depth) or in the later value, and
no statement between that may bind it conditionally (inside an `if`, a loop, a `with` or a
`try`). A loss first bound to a constant (`loss = 0.0`) is an initialisation, and one a
call returns beside its gradient a by-product (`with_gradient`): both left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assigned, assignments
from ..names import last_name
from ..source import SourceFile
from .base import Rule

BLOCKS = ("body", "orelse", "finalbody")


class LossOverwrittenUnread(Rule):
    """MLX211: a loss from a call rebound before it is read."""

    id = "MLX211"
    anchors = ("loss",)
    local = True  # reads one block

    @staticmethod
    def may_fire(text: str) -> bool:
        return "loss" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in ast.walk(source.tree):
            for field in BLOCKS:
                block = getattr(node, field, None)
                if isinstance(block, list) and len(block) > 1:
                    yield from (self.hit(source, s) for s in overwritten(block))


def called_losses(statement: ast.stmt) -> set[str]:
    """The loss names `statement` binds from a call."""
    if not isinstance(statement, ast.Assign) or not isinstance(statement.value, ast.Call) \
            or with_gradient(statement.value):
        return set()
    return {n for t in statement.targets for n in assigned(t) if "loss" in n.lower()}


def with_gradient(call: ast.Call) -> bool:
    """A call that returns the loss beside its gradient (`value_and_grad(...)(...)`,
    `loss_and_grad_fn(...)`): the gradient already holds what the loss trains, so a loss
    left unread there is a by-product (fresh115 `hotsauce_heat_resume`: a gradient check
    that reads only the gradients)."""
    func = call.func.func if isinstance(call.func, ast.Call) else call.func
    return "grad" in (last_name(func) or "").lower()


def overwritten(block: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of `block` whose loss names a later statement rebinds unread."""
    for i, statement in enumerate(block):
        for name in sorted(called_losses(statement)):
            if rebound_unread(block[i + 1:], name):
                yield statement
                break


def rebound_unread(rest: list[ast.stmt], name: str) -> bool:
    for statement in rest:
        if reads(statement, name):
            return False
        binds = any(name in assigned(t) for t, _ in assignments([statement]))
        if binds:
            return isinstance(statement, (ast.Assign, ast.AnnAssign))
        if any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
               for n in ast.walk(statement)):
            return False  # bound conditionally, in a nested block
    return False


def reads(statement: ast.stmt, name: str) -> bool:
    """`name` is loaded anywhere in the statement (an `x += ...` reads it too)."""
    if isinstance(statement, ast.AugAssign) and name in assigned(statement.target):
        return True
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
               for n in ast.walk(statement))
