"""MLX083: a guard that skips a bad batch by comparing its loss with a bound, which a NaN
loss passes.

Job: in a loop that steps an optimizer, find `if loss > bound: continue` (or `>=`, `bound <
loss`, `return` in place of `continue`) placed before the update, where the guarded name is
never tested for NaN anywhere in the module (`isnan`, `isfinite`, `isinf`, `nan_to_num`,
`x != x` on it). Every
comparison with NaN is False, so the batch the guard exists for (a NaN loss) is the one it
lets through: its NaN gradient reaches the update and every weight is NaN from then on.
Measured (mlx 0.32.4 CPU, failure corpus fresh9 `b9_nan_guard_threshold_only`, an MLX
training script's "NaN loss guard" fix): a regression loop whose data holds a few NaN
readings: huber 0.140 -> 0.021, then NaN from step 90 to the end, 0 batches skipped; with
`not math.isfinite(loss_f) or loss_f > MAX_SANE_LOSS` 8 batches skipped and it converged
to 0.0021. A guard that stops the run (`break`) or a comparison with no skip is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import names_in
from ..names import last_name
from ..source import SourceFile, descendants
from .base import Rule, optimizer_update_in

NAN_TESTS = frozenset({"isnan", "isfinite", "isinf", "nan_to_num"})
GUARD = re.compile(r"if [^\n]*(?:loss[^\n]*[<>]|[<>][^\n]*loss)")
UPDATES = frozenset({"update", "apply_gradients"})


def loss_name(node: ast.AST) -> bool:
    """A name or attribute that says it holds a loss (`loss_f`, `self.loss`)."""
    return "loss" in (last_name(node) or "").lower()


def bound(node: ast.AST) -> bool:
    """A fixed bound: a number, a constant's name (`MAX_SANE_LOSS`), or a name that does
    not hold a loss (never `best_loss`: that compares two losses)."""
    name = last_name(node) or ""
    return isinstance(node, ast.Constant) or name.isupper() or not loss_name(node)


def upper_bound(test: ast.AST) -> bool:
    """`loss > bound`, `loss >= bound`, `bound < loss`, `bound <= loss`."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    op, right = test.ops[0], test.comparators[0]
    if isinstance(op, (ast.Gt, ast.GtE)):
        return loss_name(test.left) and bound(right)
    return isinstance(op, (ast.Lt, ast.LtE)) and loss_name(right) and bound(test.left)


def skips(guard: ast.If) -> bool:
    """The guard's own body leaves the iteration: a `continue` or a `return`."""
    return any(isinstance(s, (ast.Continue, ast.Return)) for s in guard.body)


def optimizer_update(node: ast.AST) -> bool:
    """`opt.update(...)`, `self.optimizer.apply_gradients(...)`: a receiver named opt*."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in UPDATES):
        return False
    return (last_name(node.func.value) or "").lower().startswith("opt")


def updates_after(body: list[ast.stmt], guard: ast.stmt) -> bool:
    """A statement after the guard in its block calls an optimizer's update."""
    after = body[body.index(guard) + 1:]
    return any(optimizer_update(n) for s in after for n in descendants(s))


def nan_tested(source: SourceFile) -> set[str]:
    """The names the module tests for NaN anywhere: inside `isnan(...)`, `isfinite(...)`,
    `isinf(...)`, `nan_to_num(...)` (any module's), or `x != x`."""
    found: set[str] = set()
    for call in source.of_type(ast.Call):
        if last_name(call.func) in NAN_TESTS:
            found |= {n for a in call.args for n in names_in(a)}
    for test in source.of_type(ast.Compare):
        if isinstance(test.ops[0], ast.NotEq) and ast.dump(test.left) == ast.dump(
                test.comparators[0]):
            found |= names_in(test.left)
    return found


def guards(source: SourceFile) -> Iterator[ast.If]:
    for loop in source.of_type(ast.For, ast.While):
        for statement in loop.body:
            if isinstance(statement, ast.If) and upper_bound(statement.test) and skips(
                    statement) and updates_after(loop.body, statement):
                yield statement


class NanPassesGuard(Rule):
    """MLX083: `if loss_f > MAX_SANE_LOSS: continue` before `optimizer.update`."""

    id = "MLX083"
    anchors = (".update(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return GUARD.search(text) is not None and optimizer_update_in(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        tested = nan_tested(source)
        for guard in guards(source):
            if not names_in(guard.test) & tested:
                yield self.hit(source, guard.test)
