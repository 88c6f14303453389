"""MLX250: a periodic action nested inside another periodic action's `if` on the same counter
with a different interval: `if (it + 1) % args.steps_per_save == 0:` inside `if it == 0 or
(it + 1) % args.steps_per_eval == 0:`. The inner block runs only where both hold, at common
multiples of the two intervals, so the inner setting is silently overridden: with 25 and 40,
the "every 25 steps" save first runs at step 200.

Measured (mlx 0.32.4 CPU, failure corpus fresh249 `lantern_milestone_keepsake`,
after mlx-examples PR 431, which moved mlx_lm's adapter save out of the validation block):
steps_per_save=25 and steps_per_eval=40 over 120 iterations wrote no adapter at all, so the
runner's resume after a data error at iteration 71 raised ValueError loading the missing
file; de-indented, saves ran at 25 and 50 and the resume trained to test loss 1.259.

Job: in a module that trains, per `if` whose test holds `X % A == 0`, an `if` in its body
(not its `else`, at any depth, the same function) whose test holds `X % B == 0` for the same
X, where B differs from A and is not a multiple of it by construction: not both int literals
with B a multiple of A, and A not written inside B (`every * 5`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import walk
from ..source import SourceFile
from .base import TRAINS, Rule
from .base import trains as may_train

PERIOD = re.compile(r"%\s*[\w.(]+\)?\s*==\s*0")


def periods(test: ast.AST) -> list[tuple[str, ast.AST]]:
    """(the counter as dumped, the interval) of each `X % K == 0` in a test."""
    found = []
    for node in ast.walk(test):
        if (isinstance(node, ast.Compare) and len(node.ops) == 1
                and isinstance(node.ops[0], ast.Eq) and isinstance(node.left, ast.BinOp)
                and isinstance(node.left.op, ast.Mod)
                and isinstance(node.comparators[0], ast.Constant)
                and node.comparators[0].value == 0):
            found.append((ast.dump(node.left.left), node.left.right))
    return found


def overridden(outer: ast.AST, inner: ast.AST) -> bool:
    """The inner interval is not a multiple of the outer one by construction."""
    if ast.dump(outer) == ast.dump(inner):
        return False
    if isinstance(outer, ast.Constant) and isinstance(inner, ast.Constant):
        return (type(outer.value) is int and type(inner.value) is int and outer.value > 0
                and inner.value % outer.value != 0)
    return not any(ast.dump(n) == ast.dump(outer) for n in ast.walk(inner))


class NestedPeriod(Rule):
    """MLX250: `if (it + 1) % steps_per_save == 0:` inside `if (it + 1) % steps_per_eval ==
    0:`."""

    id = "MLX250"
    anchors = TRAINS
    local = True  # one function's statements

    @staticmethod
    def may_fire(text: str) -> bool:
        """A module that trains (a progress print nested in an inference loop's detection
        interval, as in mlx-vlm's sam3 `generate.py`, is left alone) with two intervals."""
        return may_train(text) and len(PERIOD.findall(text)) >= 2

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for outer in source.of_type(ast.If):
            for counter, every in periods(outer.test):
                yield from self._inner(source, outer, counter, every)

    def _inner(self, source: SourceFile, outer: ast.If, counter: str,
               every: ast.AST) -> Iterator[Finding]:
        for node in walk(outer.body):
            if isinstance(node, ast.If) and any(
                    c == counter and overridden(every, k) for c, k in periods(node.test)):
                yield self.hit(source, node.test)
