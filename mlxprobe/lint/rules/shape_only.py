"""MLX177: an array argument whose only reads are its shape before the function binds its
name again from something else (`B, L, D = queries.shape`, then `queries, keys, values =
mx.split(self.in_proj(keys), 3, axis=-1)`): the argument's values never reach the result, so
whatever the caller passes in (a learned query, a probe, a second input) gets no gradient
and the parameter that made it never trains.

Measured (mlx 0.32.4 CPU, failure corpus fresh109 `attn_pool_probe_ignored`, from
mlx-embeddings PR 45, whose attention pooling projected q, k and v all from `keys`): the
pooling probe's gradient was exactly 0 at every step and it never changed over 12 epochs
while the loss fell 1.01 -> 0.50; projected from `queries`, the probe's gradient at step 1 was
1.2e-3 and it moved 0.35.

Job: in each function, a parameter without a default whose loads before its first
unconditional rebinding (a top-level assignment whose value does not read it) are all
`.shape`, `.ndim`, `.dtype` or `.size` reads, at least one of them.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import walk
from ..source import SourceFile
from .base import Rule

METADATA = frozenset({"shape", "ndim", "dtype", "size"})


def plain_parameters(function: ast.FunctionDef) -> list[str]:
    """The positional parameters with no default, `self` and `cls` left out."""
    args = function.args.posonlyargs + function.args.args
    plain = args[:len(args) - len(function.args.defaults)]
    return [a.arg for a in plain if a.arg not in ("self", "cls")]


def reads(node: ast.AST, name: str) -> tuple[int, int]:
    """(metadata reads, other loads) of `name` in `node`, nested functions left out."""
    meta = {id(a.value) for a in walk([node]) if isinstance(a, ast.Attribute)
            and a.attr in METADATA and isinstance(a.value, ast.Name) and a.value.id == name}
    loads = [n for n in walk([node]) if isinstance(n, ast.Name) and n.id == name
             and isinstance(n.ctx, ast.Load)]
    return sum(id(n) in meta for n in loads), sum(id(n) not in meta for n in loads)


def rebinding(stmt: ast.stmt, name: str) -> ast.Name | None:
    """The target binding `name` when `stmt` is an assignment whose value does not read it."""
    if not isinstance(stmt, ast.Assign) or sum(reads(stmt.value, name)):
        return None
    targets = [n for t in stmt.targets for n in walk([t])
               if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id == name]
    return targets[0] if targets else None


def binds(stmt: ast.stmt, name: str) -> bool:
    """`stmt` binds `name` anywhere (a branch, a loop target, an augmented assignment)."""
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
               for n in walk([stmt]))


def overwritten(function: ast.FunctionDef, name: str) -> ast.Name | None:
    """Where `name` is bound again after only its metadata was read, or None."""
    metadata = 0
    for stmt in function.body:
        target = rebinding(stmt, name)
        if target is not None:
            return target if metadata else None
        meta, other = reads(stmt, name)
        if other or binds(stmt, name):
            return None
        metadata += meta
    return None


class ShapeOnlyArgument(Rule):
    """MLX177: `B, L, D = queries.shape; queries, keys, values = split(proj(keys))`."""

    id = "MLX177"
    anchors = (".shape", ".ndim", ".dtype", ".size")
    local = True  # one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "def " in text and any(a in text for a in ShapeOnlyArgument.anchors)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(ast.FunctionDef):
            for name in plain_parameters(function):
                target = overwritten(function, name)
                if target is not None:
                    yield self.hit(source, target)
