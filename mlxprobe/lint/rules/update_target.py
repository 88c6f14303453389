"""MLX108: `optimizer.update(groups, grads)` where `groups` is a plain dict of a model's
parts (`{"wte": model.wte, "lm_head": model.lm_head}`), built to give each optimizer its own
parameter group. `Optimizer.update` computes the new parameters and hands them to
`groups.update(...)`: for a dict that is `dict.update`, which replaces the dict's entries and
never writes the model. No parameter changes. mlxchat's fix commit 179f30f (loss stuck at
11.09); failure corpus fresh19 `opt_update_module_dict`: nll 3.361 -> 3.36 over 300 steps,
trained when the model itself is passed with the group's gradients.

Job: find an optimizer's `update` (a receiver named `opt...`, two arguments) whose first
argument is a dict display, or a name the function binds to one, whose values are all
attributes of a module instance (`model.wte`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_instances
from ..finding import Finding
from ..flow import body_assignments
from ..names import dotted
from ..source import SourceFile
from .base import Rule, optimizer_update_in
from .evaluation import steps_optimizer


def parts_dict(node: ast.AST, instances: set[str]) -> bool:
    """`{"a": model.a, "b": model.b}`: every value an attribute of a module instance."""
    if not isinstance(node, ast.Dict) or not node.values:
        return False
    roots = [(dotted(v) or [""])[0] for v in node.values if isinstance(v, ast.Attribute)]
    return len(roots) == len(node.values) and all(r in instances for r in roots)


def dict_target(source: SourceFile, call: ast.Call, instances: set[str]) -> bool:
    given = call.args[0]
    if isinstance(given, ast.Name):
        scope = source.enclosing(call) or source.tree
        values = [v for t, v in body_assignments(source, scope)
                  if isinstance(t, ast.Name) and t.id == given.id]
        return bool(values) and all(parts_dict(v, instances) for v in values)
    return parts_dict(given, instances)


class UpdateIntoDict(Rule):
    """MLX108: an optimizer updating a plain dict of a model's parts, not the model."""

    id = "MLX108"
    anchors = (".update(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".update(" in text and optimizer_update_in(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        instances = module_instances(source)
        for call in source.of_type(ast.Call):
            if steps_optimizer(call) and call.args and dict_target(source, call, instances):
                yield self.hit(source, call)
