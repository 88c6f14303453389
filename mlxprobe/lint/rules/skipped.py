"""MLX089: gradient accumulation that accumulates nothing: the optimizer steps every k
micro-batches (`if (step + 1) % k == 0: optimizer.update(model, grads)`) with the gradients
of the last micro-batch alone.

Job: find an optimizer update under an `if` whose test takes a remainder (`%`), whose
gradients are a name bound, earlier in the same function, straight from a `value_and_grad`
call and never bound again (no running sum, no division by the step count): the k - 1
micro-batches before it are computed and thrown away, and the step is sized for a batch k
times larger than the one it sees. Measured (mlx 0.32.4 CPU, failure corpus fresh9
`a9_grad_accum_skips_microbatches`, the first version of mlx-lm PR 326, "you don't
accumulate the gradients anywhere"): full-data mse 3.44 -> 1.9e11 -> NaN by update ~224; with
the gradients summed with `tree_map` and divided by k, 0.74 -> 0.0029.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import grad_call
from ..finding import Finding
from ..flow import assigned, body_nodes, walk
from ..source import SourceFile, descendants
from .base import Rule, optimizer_update_in
from .evaluation import is_optimizer_update


def remainder_test(test: ast.AST) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mod) for n in descendants(test))


def grads_of(call: ast.Call) -> str | None:
    given = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg != "model"), None)
    return given.id if isinstance(given, ast.Name) else None


def bindings(scope: list[ast.stmt], name: str) -> list[ast.AST]:
    """The statements of the scope that bind `name` (assignments, augmented ones, loops)."""
    found = []
    for node in walk(scope):
        if isinstance(node, ast.Assign) and any(name in assigned(t) for t in node.targets):
            found.append(node)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)) and name in assigned(
                node.target):
            found.append(node)
    return found


def fresh_each_step(source: SourceFile, guard: ast.If, name: str) -> bool:
    """`name` is bound once in the function around the guard, before it, from a gradient
    call, and nowhere else."""
    scope = source.enclosing(guard)
    body = scope.body if scope is not None else source.tree.body
    bound = bindings(body, name)
    return len(bound) == 1 and isinstance(bound[0], ast.Assign) and bound[0].lineno < \
        guard.lineno and grad_call(source, bound[0].value)


class GradientsNotAccumulated(Rule):
    """MLX089: `loss, grads = loss_and_grad(...)` then `if (i + 1) % k == 0:
    optimizer.update(model, grads)`, `grads` never summed."""

    id = "MLX089"
    anchors = (".update(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "% " in text and "grad" in text and optimizer_update_in(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for guard in source.of_type(ast.If):
            if not remainder_test(guard.test):
                continue
            for node in body_nodes(source, guard):
                if isinstance(node, ast.Call) and is_optimizer_update(source, node):
                    name = grads_of(node)
                    if name and fresh_each_step(source, guard, name):
                        yield self.hit(source, node)
