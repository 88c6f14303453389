"""MLX075: inputs and targets shuffled by two different permutations: every input loses its
label.

Job: in one block of statements, find two different arrays indexed by two different random
permutations (`X = X[mx.random.permutation(N)]` then `Y = Y[mx.random.permutation(N)]`,
directly or through names bound to separate `permutation(...)` calls), or two arrays each
shuffled in place by consecutive statements (`np.random.shuffle(X)` then
`np.random.shuffle(Y)`; a buffer shuffled, then what was made from it, further on, is a
streaming loader's two stages).
Examples and labels must move together: one permutation indexing both. Measured (mlx 0.32.4
CPU, failure corpus fresh7 `shuffle_inputs_targets_separately`, mlx issue 1469): xent 0.695
-> 0.693 (ln 2) and accuracy 0.51 for 12 epochs; one permutation for both: 0.59 -> 0.004,
accuracy 0.999. One array shuffled, two indexed by the same permutation, or a permutation
that indexes two or more arrays itself (a second set shuffled with its own labels), is left
alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments
from ..source import SourceFile, descendants
from .base import Rule

BODIES = ("body", "orelse", "finalbody")


def permutation_call(node: ast.AST) -> bool:
    """`mx.random.permutation(n)`, `np.random.permutation(n)`, `rng.permutation(n)`."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        node.func.attr == "permutation"


def shuffle_call(node: ast.AST) -> ast.AST | None:
    """The array of an in-place `np.random.shuffle(x)` / `rng.shuffle(x)` / `random.shuffle`."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        call = node.value
        if isinstance(call.func, ast.Attribute) and call.func.attr == "shuffle" and call.args:
            return call.args[0]
    return None


def permuted(stmt: ast.stmt, perms: dict[str, ast.AST]) -> tuple[str, ast.AST] | None:
    """(the array's text, the permutation) of `A = B[P]` where P is a permutation call or a
    name bound to one in this block."""
    if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Subscript)):
        return None
    index = stmt.value.slice
    if isinstance(index, ast.Name):
        index = perms.get(index.id)
    if index is None or not permutation_call(index):
        return None
    return ast.unparse(stmt.value.value), index


def together(indexed: list[tuple[str, ast.AST]]) -> set[ast.AST]:
    """The permutations of the block that each index two or more arrays: each moves a set
    and its own labels together (fresh355 `orchard_crown_dustbin`, correct: two detection
    sets, each shuffled with its own identities by its own permutation)."""
    arrays: dict[ast.AST, set[str]] = {}
    for name, perm in indexed:
        arrays.setdefault(perm, set()).add(name)
    return {perm for perm, names in arrays.items() if len(names) >= 2}


class PairsShuffledApart(Rule):
    """MLX075: `X = X[permutation(N)]; Y = Y[permutation(N)]`, or two in-place shuffles."""

    id = "MLX075"
    anchors = ("permutation(", "shuffle(")
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return text.count("permutation(") >= 2 or text.count("shuffle(") >= 2

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in descendants(source.tree):
            for field in BODIES:
                body = getattr(node, field, None)
                if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                    yield from self._block(source, body)

    def _block(self, source: SourceFile, body: list[ast.stmt]) -> Iterator[Finding]:
        perms = {t.id: v for t, v in assignments(body) if isinstance(t, ast.Name)
                 and permutation_call(v)}
        seen: dict[str, ast.AST] = {}
        indexed = [(stmt, permuted(stmt, perms)) for stmt in body]
        moved = together([found for _, found in indexed if found])
        for stmt, found in indexed:
            if found and found[1] not in moved and any(
                    a != found[0] and p is not found[1] for a, p in seen.items()):
                yield self.hit(source, stmt)
            if found:
                seen[found[0]] = found[1]
        for before, stmt in zip(body, body[1:]):
            one, two = shuffle_call(before), shuffle_call(stmt)
            if one is not None and two is not None and ast.dump(one) != ast.dump(two):
                yield self.hit(source, stmt)
