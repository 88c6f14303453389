"""MLX211 and MLX216: a value bound and bound again in the same block before anything reads
it. MLX211, a loss from a call: `l1, l2, e_top, p = self.quantizer_top(h)` then `l1, l2, e_btm, p =
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

MLX216, a layer's output (`y = self.ln2(x)` then `y = self.ln3(x)`, with `x` handed on in
between): the layer runs and its output is dropped, so it never gets a gradient. Measured
(mlx 0.32.4 CPU, failure corpus fresh200 `dunlin_t5_reverse`, mlx-examples 64e53e8): a T5
decoder block normed its input for cross-attention into `y` and then attended over `x`: the
norm `ln2` never changed (`no_update:part`); with `cross_attention(y, ...)` it trained.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..dataflow import layer_applied
from ..finding import Finding
from ..flow import assigned, assignments, statement_lists
from ..markers import occurrences, word_before
from ..names import last_name
from ..source import SourceFile
from .base import Rule

NEAR = 400  # characters between two bindings of one name in one forward pass


def fresh_bindings(text: str) -> list[tuple[str, int]]:
    """(name, where) of each ` = self.<layer>(...)` whose arguments (to the line's end) do
    not read the name: `y = self.ln2(x)`, not `x = self.norm(x)`."""
    names = []
    for at in occurrences(text, " = self."):
        name, end = word_before(text, at), text.find("\n", at)
        if name and name not in text[at:end if end != -1 else len(text)]:
            names.append((name, at))
    return names


def rebound_near(text: str) -> bool:
    """A name freshly bound twice within NEAR characters (one forward pass)."""
    last: dict[str, int] = {}
    for name, at in fresh_bindings(text):
        if at - last.get(name, -NEAR - 1) <= NEAR:
            return True
        last[name] = at
    return False


class LossOverwrittenUnread(Rule):
    """MLX211: a loss from a call rebound before it is read."""

    id = "MLX211"
    anchors = ("loss",)
    local = True  # reads one block

    @staticmethod
    def may_fire(text: str) -> bool:
        return "loss" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for _, block in statement_lists(source):
            yield from (self.hit(source, s) for s in overwritten(block, called_losses))


class LayerOutputUnread(Rule):
    """MLX216: a layer's output rebound before it is read."""

    id = "MLX216"
    anchors = ("self.",)
    local = True  # reads one block

    @staticmethod
    def may_fire(text: str) -> bool:
        """A name bound twice, within NEAR characters, to a call of a `self.` attribute that
        does not read it (`fresh_bindings`, a `str.find` walk over ` = self.`: a regex with no
        literal head tries every position)."""
        return rebound_near(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        def outputs(statement: ast.stmt) -> set[str]:
            return layer_outputs(source, statement)
        for _, block in statement_lists(source):
            yield from (self.hit(source, s) for s in overwritten(block, outputs))


def layer_outputs(source: SourceFile, statement: ast.stmt) -> set[str]:
    """The plain name `statement` binds to a layer's output, `y = self.ln2(x)`."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(
            statement.targets[0], ast.Name) and isinstance(statement.value, ast.Call) \
            and layer_applied(source, statement.value):
        return {statement.targets[0].id}
    return set()


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


def overwritten(block: list[ast.stmt],
                chosen: Callable[[ast.stmt], set[str]]) -> Iterator[ast.stmt]:
    """The statements of `block` whose `chosen` names a later statement rebinds unread."""
    for i, statement in enumerate(block):
        for name in sorted(chosen(statement)):
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
