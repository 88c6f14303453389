"""MLX122: `mx.value_and_grad(f)` or `mx.grad(f, argnums=k)` where `f` takes fewer positional
parameters than the argument it differentiates (a closure `def loss_fn():` over the model and
the batch, PyTorch's habit): MLX differentiates an argument, and a function called with none
raises at the first call.

Measured (mlx 0.32.4 CPU): `mx.value_and_grad(f)()` with `def f(): return (w * w).sum()`
raises `ValueError: [value_and_grad] Can't compute the gradient of argument index 0 because
the function is called with only 0 positional arguments.`; `mx.grad(g, argnums=1)(w)` with
one parameter raises the same for index 1. Failure corpus fresh25 `yolo_closure_no_args`
(a YOLO trainer's closure loss crashed at its first batch; the fix takes the parameters,
`def loss_fn(params): model.update(params); ...`, called with `model.parameters()`).

Job: find such transformations of a def or lambda the module defines; a function with
`*args` takes any count and is left alone, and so is one whose argnums is not a literal.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule
from .gradients import transformed_def


class GradOfMissingArgument(Rule):
    """MLX122: `mx.value_and_grad(loss_fn)()` with `def loss_fn():`: no argument to
    differentiate."""

    id = "MLX122"
    anchors = ("grad(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            found = transformed_def(source, call)
            if found is None or found[0].args.vararg is not None:
                continue
            function, bound, positions = found
            count = len(function.args.posonlyargs) + len(function.args.args) - int(bound)
            if max(positions) >= count:
                yield self.hit(source, call)
