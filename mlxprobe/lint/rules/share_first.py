"""MLX170: a share of a collection's size computed by dividing first, `len(rows) // 10 * 8`:
the floor division truncates before the multiplication, so below 10 rows the share is 0 (an
empty training split) and above it up to 7 rows go to the wrong side; `len(rows) * 8 // 10`
multiplies first.

Measured (mlx 0.32.4 CPU, failure corpus fresh58 `split_80_20`, instructlab PR 666): nine
generated samples split with `len(data) // 10 * 8` wrote an empty `train.jsonl`, and the
trainer stopped with "Training set not found or empty"; with `len(data) * 8 // 10` it
trained on 7 rows.

Job: `len(x) // k * m` (or `m * (len(x) // k)`) with integer constants 0 < m < k (a fraction
of the size; `len(x) // bs * bs`, rounding down to a multiple, is not one), unless it is an
argument of an `mlx.optimizers` call (a schedule's length: epochs times batches), or bound to
a name such an argument reads.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

# at each `len(`: `len(x) // k * m` from it, or `m * (` right before it (a str.find walk: the
# second form has no literal head, and a regex of both tried every digit of the file)
DIVIDED_THEN = re.compile(r"len\([^()\n]*\)\s*//\s*\d+\s*\)?\s*\*\s*\d")
TIMES_BEFORE = re.compile(r"\d\s*\*\s*\(\s*$")


def _int(node: ast.AST) -> int | None:
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def divided_size(node: ast.AST) -> int | None:
    """k of `len(x) // k`, else None."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv)):
        return None
    size = node.left
    if isinstance(size, ast.Call) and isinstance(size.func, ast.Name) and size.func.id == "len":
        return _int(node.right)
    return None


def share_first(node: ast.AST) -> bool:
    """`len(x) // k * m` or `m * (len(x) // k)` with 0 < m < k."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
        return False
    for divided, factor in ((node.left, node.right), (node.right, node.left)):
        k, m = divided_size(divided), _int(factor)
        if k is not None and m is not None and 0 < m < k:
            return True
    return False


class ShareDividedFirst(Rule):
    """MLX170: `n_train = len(rows) // 10 * 8` (0 below 10 rows)."""

    id = "MLX170"
    anchors = ("len(",)
    local = True  # one expression

    @staticmethod
    def may_fire(text: str) -> bool:
        at = text.find("len(")
        while at != -1:
            if DIVIDED_THEN.match(text, at) or TIMES_BEFORE.search(text[max(0, at - 80):at]):
                return True
            at = text.find("len(", at + 4)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BinOp):
            if share_first(node) and not schedule_length(source, node):
                yield self.hit(source, node)


def schedule_length(source: SourceFile, node: ast.AST) -> bool:
    """`node` is an argument of an `mlx.optimizers` call (a schedule's length in steps,
    `optim.cosine_decay(lr, 6 * (len(rows) // 64))`: epochs times batches, no share of the
    rows; fresh108 `tuning_fork_pitch_nll_thaw`), or is bound to a name that such an argument
    reads in the same scope (fresh287 `sonde_ascent_cholesky_nll`: `steps_b = 12 * (len(ytr)
    // 128)`, then `optim.cosine_decay(1e-3, steps_b - 100, 2e-5)`)."""
    if optimizer_argument(source, node):
        return True
    assign = source.parents.get(node)
    if not (isinstance(assign, ast.Assign) and len(assign.targets) == 1
            and isinstance(assign.targets[0], ast.Name)):
        return False
    name, scope = assign.targets[0].id, source.enclosing(assign) or source.tree
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
               and optimizer_argument(source, n) for n in ast.walk(scope))


def optimizer_argument(source: SourceFile, node: ast.AST) -> bool:
    """`node` is (in) an argument of an `mlx.optimizers` call: the first call above it."""
    call = source.parents.get(node)
    while call is not None and not isinstance(call, (ast.Call, ast.stmt)):
        call = source.parents.get(call)
    name = source.imports.resolve(call.func) if isinstance(call, ast.Call) else None
    return bool(name) and name.startswith("mlx.optimizers.")
