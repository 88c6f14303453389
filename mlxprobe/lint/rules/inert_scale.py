"""MLX224: a part of the gradient tree multiplied by a factor before an Adam-family optimizer
steps with it: Adam, AdamW, Adamax and Lion divide each gradient by its own running scale (or
take its sign), so a constant factor on a group's gradient cancels and the group moves at the
base rate. A per-group learning rate (LoRA+'s ratio on `lora_b`, an embedding rate) must scale
the step, not the gradient.

Measured (mlx 0.32.4 CPU, failure corpus fresh212 `loraplus_tied_head_ratio`, unsloth-zoo
PR 932): a LoRA+ fine-tune multiplied `grads["body"]["lora_b"]` by its ratio 16 before
`AdamW.update`; lora_b moved at the base rate and the run stayed at chance; scaling the step
instead (`p = pre + ratio * (post - pre)` after the update) trained.

Job: in one function (or the module's top level), `g[...] = g[...] * k` or `g[...] *= k`
(k a name or a number) on a name `g` bound from a gradient call (`loss, g =
loss_and_grad(...)`), then `opt.update(model, g)` with `opt` bound in the module to
`optim.Adam`, `AdamW`, `Adamax` or `Lion`. The whole tree scaled alike (an accumulation's
average) is not a part and is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, calls
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .contracts import optimizers
from .evaluation import step_outputs, steps_optimizer

SCALE_FREE = frozenset(f"mlx.optimizers.{name}" for name in ("Adam", "AdamW", "Adamax", "Lion"))


class InertScale(Rule):
    """MLX224: `grads["body"]["lora_b"] = grads["body"]["lora_b"] * ratio`, then
    `opt.update(model, grads)` with an AdamW."""

    id = "MLX224"
    anchors = ('"] * ', "'] * ", "] *= ")
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return ('"] * ' in text or "'] * " in text or "] *= " in text) and (
            "Adam" in text or "Lion" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        scale_free = optimizers(source, SCALE_FREE)
        if not scale_free:
            return
        for scope in (source.tree, *source.of_type(*FUNCTIONS)):
            nodes = body_nodes(source, scope)
            grads = step_outputs(nodes)
            stepped = {c.args[1].id for c in calls(nodes) if steps_optimizer(c)
                       and len(c.args) == 2 and isinstance(c.args[1], ast.Name)
                       and isinstance(c.func.value, ast.Name)
                       and c.func.value.id in scale_free}
            yield from (self.hit(source, node) for node in nodes
                        if (name := scaled_part(node)) and name in grads & stepped)


def scaled_part(node: ast.AST) -> str | None:
    """`g` of `g[...] = g[...] * k` or `g[...] *= k` (k a name or a number)."""
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Mult):
        target, factor = node.target, node.value
    elif (isinstance(node, ast.Assign) and len(node.targets) == 1
          and isinstance(node.value, ast.BinOp) and isinstance(node.value.op, ast.Mult)
          and ast.unparse(node.value.left) == ast.unparse(node.targets[0])):
        target, factor = node.targets[0], node.value.right
    else:
        return None
    if not isinstance(target, ast.Subscript) or not isinstance(factor, (ast.Name, ast.Constant)):
        return None
    root = target
    while isinstance(root, ast.Subscript):
        root = root.value
    return root.id if isinstance(root, ast.Name) else None
