"""MLX173: an interval truncated from a share (`every = int(0.05 * len(loader))`, no floor)
and then used as a modulus or divisor (`step % every`): on a short run or a small data set
the share rounds down to 0 and the first report raises ZeroDivisionError (integer modulo by
zero); `max(1, int(...))` keeps it at least one.

Measured (mlx 0.32.4 CPU), twice in the failure corpus, from two projects:
- fresh58 `proportional_report_interval` (mlx-tuning-fork commit 25832a5): a report interval
  of `int(0.015 * 62)` = 0; `it % scaled_steps_per_report` raised ZeroDivisionError at the
  first iteration; with `max(1, ...)` the run trained (loss fell).
- fresh68 `tiny_loader_log_every` (mlx-image commit 0f093cb): `self.log_every =
  int(log_every * len(self.train_loader))` = int(0.05 * 15) = 0 in `__init__`, `batch_idx %
  self.log_every` in the training method raised ZeroDivisionError at the first batch.

Job: names (in one function, or the module's top level) and `self.<name>` attributes (in one
class) every binding of which is `int(a / b)`, or `int(a * b)` with no integer constant >= 1
among the factors; the right operand of a `%` or `//` that reads one of them is the finding,
unless the same test (an `if`, a conditional, an `and`/`or`) also reads it (`if every and
step % every == 0` guards the zero).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import (
    attributes_bound_only,
    body_assignments,
    bound_only,
    in_reach,
    self_attr,
    tested_apart,
)
from ..source import SourceFile
from .base import Rule

SHARES = (ast.Mult, ast.Div)
DIVIDES = (ast.Mod, ast.FloorDiv)


def truncated_share(value: ast.AST) -> bool:
    """`int(a / b)`, or `int(a * b)` with no factor an integer constant >= 1 (`int(n * 2)`
    is never 0 for n >= 1; `int(n / 20)` is below 20)."""
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id == "int" and len(value.args) == 1 and not value.keywords):
        return False
    inner = value.args[0]
    if not (isinstance(inner, ast.BinOp) and isinstance(inner.op, SHARES)):
        return False
    return isinstance(inner.op, ast.Div) or not any(
        isinstance(side, ast.Constant) and type(side.value) is int and side.value >= 1
        for side in (inner.left, inner.right))


def read_name(node: ast.AST) -> str | None:
    """`x` of a read of `x` or of `self.x` (attributes marked with a leading dot)."""
    if isinstance(node, ast.Name):
        return node.id
    attribute = self_attr(node)
    return "." + attribute if attribute else None


def interval_names(source: SourceFile, scope: ast.AST) -> set[str]:
    """The plain names of `scope` bound to truncated shares only."""
    return bound_only(body_assignments(source, scope), truncated_share)


def interval_attributes(source: SourceFile, cls: ast.ClassDef) -> set[str]:
    """`.x` for each `self.x` that every method of `cls` binds to truncated shares only."""
    return {"." + name for name in attributes_bound_only(
        source, cls, lambda _, value: truncated_share(value))}


def guarded(source: SourceFile, node: ast.AST, name: str) -> bool:
    """An enclosing test (an `if`, a conditional, an `and`/`or`) reads `name` apart from
    `node`."""
    return tested_apart(source, node, lambda n: read_name(n) == name)


def bound_before(text: str, at: int) -> str:
    """The target written before the `=` at `at` (`every`, `self.log_every`), or ''."""
    start = text.rfind("\n", 0, at) + 1
    words = text[start:at].split()
    return words[-1] if words else ""


def divided_by(text: str, name: str) -> bool:
    """`% name`, `%name` or `// name` (`//name`) somewhere in the text, whole word."""
    if not name:
        return False
    for op in ("% ", "%", "// ", "//"):
        at = text.find(op + name)
        while at != -1:
            after = at + len(op) + len(name)
            if after >= len(text) or not (text[after].isalnum() or text[after] in "_."):
                return True
            at = text.find(op + name, after)
    return False


class TruncatedInterval(Rule):
    """MLX173: `every = int(0.05 * len(loader))`, then `step % every` (0 on a short run)."""

    id = "MLX173"
    anchors = ("int(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `name = int(` binding whose line holds `*` or `/`, and `% name`, `%name` or
        `// name` somewhere (`self.name` alike): most `int(a * b)` in model code are sizes
        (`dims = int(head_dim * factor)`) no one divides by."""
        at = text.find("= int(")
        while at != -1:
            end = text.find("\n", at)
            line = text[at:end if end != -1 else len(text)]
            if ("*" in line or "/" in line) and divided_by(text, bound_before(text, at)):
                return True
            at = text.find("= int(", at + 6)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BinOp):
            if isinstance(node.op, DIVIDES):
                name = read_name(node.right)
                if name and name in self._intervals(source, node) and \
                        not guarded(source, node, name):
                    yield self.hit(source, node)

    @staticmethod
    def _intervals(source: SourceFile, node: ast.AST) -> set[str]:
        """The truncated-share names and attributes `node` can read."""
        return in_reach(source, "truncated", source.enclosing(node) or source.tree,
                        source.enclosing(node, (ast.ClassDef,)), interval_names,
                        interval_attributes)
