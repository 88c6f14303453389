"""MLX130: a gradient accumulator overwritten from the last micro-batch's gradients before the
update it feeds: the sum is computed and thrown away, and the optimizer applies one
micro-batch's gradient (scaled as if it were the sum's average).

Job: in a function or loop that sums gradient trees into a name (`gradients.accumulators`)
and hands that name to an update (`gradients.applied_trees`), take the binding of the name
that reaches the update (the nearest assignment before it in the enclosing function, or in the
loop at module level: `stopping.Trace`); it is this
rule's when it reads a gradient the sum adds but not the accumulator itself. Measured (mlx
0.32.4 CPU, failure corpus fresh29 `grad_accum_last_microbatch`, gpt-mlx): with
`acc = tree_map(lambda x: x / N, gradients)` before `optimizer.update(model, acc)` the loss
fell 3.81 -> 3.60 in 150 updates, with `tree_map(lambda x: x / N, acc)` 3.81 -> 1.44.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, names_in
from ..source import FUNCTIONS, LOOPS, SourceFile
from .base import TRAINS, Rule, trains
from .gradients import accumulators, applied_trees
from .stopping import Trace


class OverwrittenAccumulation(Rule):
    """MLX130: `acc = tree_map(add, acc, g)` ... `acc = tree_map(scale, g)`;
    `optimizer.update(model, acc)`."""

    id = "MLX130"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for scope in source.of_type(*FUNCTIONS, *LOOPS):
            if isinstance(scope, ast.Lambda):
                continue
            for value in overwrites(source, scope):
                if value not in reported:
                    reported.add(value)
                    yield self.hit(source, value)


def overwrites(source: SourceFile, scope: ast.AST) -> Iterator[ast.AST]:
    """The bindings of an accumulator that reach an update and drop its sum; the scope's
    names are traced only when a summed accumulator reaches an update."""
    body = body_nodes(source, scope)
    sums = accumulators(source, body)
    applied = [(call, grads) for call, grads in applied_trees(source, body)
               if isinstance(grads, ast.Name) and grads.id in sums] if sums else []
    if not applied:
        return
    function = source.enclosing(scope) if isinstance(scope, LOOPS) else scope
    trace = Trace(source, scope if function is None else function)
    for call, grads in applied:
        value = trace.binding(grads.id, call.lineno)
        added = names_in(sums[grads.id]) - {grads.id}
        read = names_in(value) if value is not None else set()
        if value is not None and value is not sums[grads.id] and grads.id not in read \
                and read & added:
            yield value
