"""MLX187: an optimizer's `update` handed the model's parameter dict instead of the model
(`optimizer.update(model.parameters(), grads)`). `Optimizer.update(model, gradients)` ends in
`model.update(new_parameters)`: on a module that writes the new weights in; on the fresh
plain dict `parameters()` returns, it is `dict.update` on a copy nobody keeps. No error is
raised, the optimizer's state advances, and the model never changes.

Measured (mlx 0.32.4 CPU, failure corpus fresh145 `handbell_peal_grpo`, mlx-grpo e54e50a
"fix update"): a GRPO policy stepped with `optimizer.update(model.parameters(), grads)` kept
its average reward at chance (0.116 -> 0.108 over 200 steps, 1/8 = 0.125) and its loss at 0;
with `optimizer.update(model, grads)` the reward rose to ~0.7.

Job: a call `<receiver>.update(<x>.parameters() | <x>.trainable_parameters(), ...)` whose
receiver is an optimizer: a name bound to an `mlx.optimizers` class, or named like one
(`opt`, `optimizer`, `self.optim`). Must not import: mlx, anything of mlxprobe outside
`mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..names import dotted
from ..source import SourceFile
from .base import Rule
from .contracts import optimizers

TREES = frozenset({"parameters", "trainable_parameters"})


def an_optimizer(receiver: ast.AST, bound: set[str]) -> bool:
    parts = dotted(receiver)
    if not parts:
        return False
    return parts[-1] in bound or "opt" in parts[-1].lower()


def a_parameter_dict(node: ast.AST) -> bool:
    """`model.parameters()`, `self.model.trainable_parameters()`."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
        node.func.attr in TREES) and not node.args


class UpdateGivenParameterDict(Rule):
    """MLX187: `optimizer.update(model.parameters(), grads)`."""

    id = "MLX187"
    anchors = (".update(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "parameters()" in text and ".update(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        bound = optimizers(source)
        for call in source.of_type(ast.Call):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr == "update" and call.args and (
                    a_parameter_dict(call.args[0]) and an_optimizer(func.value, bound)):
                yield self.hit(source, call)
