"""MLX099: a training loop whose body ends with an unconditional `break`: it runs once.

Job: find a `for` loop whose body's last statement is a bare `break` (not inside an `if`)
while the body steps an optimizer (`optimizer.update(model, grads)`) or takes gradients: each
pass over the data trains on its first batch only, exits 0, and the loss barely moves (the
mlx-examples speechcommands example shipped with a leftover debugging `break` at the end of
its batch loop; failure corpus fresh14 `b14_leftover_break_one_batch`: one step per epoch,
train loss 1.93 -> 1.70 over 6 epochs against 1.24 -> 0.16 without it). A loop that breaks
under a condition, or only takes a sample batch (no update, no gradient), is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, calls
from ..source import SourceFile
from .base import TRAINS, Rule, trains
from .evaluation import is_optimizer_update
from .gradients import is_grad_call


class BreaksAtOnce(Rule):
    """MLX099: `for batch in batches: ... optimizer.update(...) ... break`."""

    id = "MLX099"
    anchors = TRAINS
    local = True  # reads one loop

    @staticmethod
    def may_fire(text: str) -> bool:
        return "break" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for loop in source.of_type(ast.For, ast.AsyncFor):
            last = loop.body[-1] if loop.body else None
            if isinstance(last, ast.Break) and any(
                    is_optimizer_update(source, c) or is_grad_call(source, c)
                    for c in calls(body_nodes(source, loop))):
                yield self.hit(source, last)
