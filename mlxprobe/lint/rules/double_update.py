"""MLX264: the same optimizer step written twice in one pass, `optimizer.update(model,
grad)` and again with the same gradients not recomputed between them, where both can run in
the same pass: each step applies the gradient twice (twice the learning rate, and Adam's
moments updated twice per batch), or, around a gradient-accumulation branch, a step at every
micro-batch besides the accumulated one.

Measured (mlx 0.32.4 CPU, failure corpus fresh182 `quarry_probe_accum`, from mlx-lm
71500840 "remove redundancy"): a compiled step ran `optimizer.update(model, grad)` inside
`if (it + 1) % accumulation_steps == 0:` and once more unconditionally after it: with SGD at
a rate stable for one update a step, the doubled step's loss grew about 2x a step and was nan
before iter 1000 (val 0.562 -> nan); with one update it fell to 0.13.

Job: in one function or loop body (not counting nested functions or loops), two calls with
the same text `X.update(M, G)` that steps an optimizer, no binding of `G` between them, and
not on two branches of one `if`; nor is the first followed, in its own block, by a `return`,
`continue`, `break` or `raise`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import bound
from ..source import FUNCTIONS, LOOPS, SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update

ENDS = (ast.Return, ast.Continue, ast.Break, ast.Raise)


def branches(source: SourceFile, node: ast.AST, owner: ast.AST) -> dict[ast.If, str]:
    """Each `if` between `node` and `owner`, with the branch (`body`/`orelse`) it sits in."""
    found: dict[ast.If, str] = {}
    child, parent = node, source.parents.get(node)
    while parent is not None and parent is not owner:
        if isinstance(parent, ast.If) and child is not parent.test:
            found[parent] = "body" if child in parent.body else "orelse"
        child, parent = parent, source.parents.get(parent)
    return found


def statement_of(source: SourceFile, node: ast.AST) -> ast.AST:
    while not isinstance(node, ast.stmt):
        node = source.parents[node]
    return node


def ends_after(source: SourceFile, call: ast.Call) -> bool:
    """A `return`/`continue`/`break`/`raise` follows the call's statement in its block."""
    statement = statement_of(source, call)
    parent = source.parents.get(statement)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and statement in block:
            return any(isinstance(s, ENDS) for s in block[block.index(statement) + 1:])
    return False


class DoubleUpdate(Rule):
    """MLX264: `optimizer.update(model, grad)` twice in one pass with the same `grad`."""

    id = "MLX264"
    anchors = (".update(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return text.count(".update(") >= 2 and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        by_owner: dict[ast.AST, list[ast.Call]] = {}
        for call in source.of_type(ast.Call):
            if is_optimizer_update(source, call):
                owner = source.enclosing(call, FUNCTIONS + LOOPS) or source.tree
                by_owner.setdefault(owner, []).append(call)
        for owner, updates in by_owner.items():
            yield from self._twice(source, owner, sorted(updates, key=lambda c: c.lineno))

    def _twice(self, source: SourceFile, owner: ast.AST,
               updates: list[ast.Call]) -> Iterator[Finding]:
        for k, first in enumerate(updates):
            for second in updates[k + 1:]:
                if ast.unparse(first) == ast.unparse(second) and self._both_run(
                        source, owner, first, second):
                    yield self.hit(source, second)
                    return

    @staticmethod
    def _both_run(source: SourceFile, owner: ast.AST, first: ast.Call,
                  second: ast.Call) -> bool:
        a, b = branches(source, first, owner), branches(source, second, owner)
        if any(a[i] != b[i] for i in a.keys() & b.keys()) or ends_after(source, first):
            return False
        grads = {n.id for n in ast.walk(first.args[1]) if isinstance(n, ast.Name)}
        between = [s for s in ast.walk(owner) if isinstance(s, ast.stmt)
                   and first.lineno < s.lineno < second.lineno]
        return not any(grads & bound(s) for s in between)
