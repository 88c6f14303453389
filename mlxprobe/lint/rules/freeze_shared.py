"""MLX226: one call given a model twice, once as `model.freeze()`: `train(model=model,
ref_model=model.freeze())`. `nn.Module.freeze()` freezes the module in place and returns the
same object, so the call receives one model in both places, frozen: the model meant to
train has no trainable parameter (the first `nn.value_and_grad` raises `[grad] Must specify
at least one argument`, or, with something left trainable, a DPO policy is its own
reference and its loss sits at ln 2).

Measured (mlx 0.32.4 CPU, failure corpus fresh224 `tallgrass_dpo_refmodel`, mlx-lm-lora
0c4cc9c, "finish"): `train_dpo(model=model, ref_model=model.freeze(), ...)` printed
"Trainable parameters: 0" and raised at the first step; `ref_model=ref_model.freeze()` (a
second instance loaded for the reference) trained to a held-out preference accuracy well
above chance.

Job: a call among whose arguments (positional or keyword) one is `X.freeze(...)` and another
is `X` itself (the same name or dotted path).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule


class FreezeShared(Rule):
    """MLX226: `f(model=model, ref_model=model.freeze())`: one object, frozen, twice."""

    id = "MLX226"
    anchors = (".freeze(",)
    local = True  # reads one call

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".freeze(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            given = [*call.args, *(k.value for k in call.keywords)]
            plain = {ast.unparse(a) for a in given if isinstance(a, (ast.Name, ast.Attribute))}
            for arg in given:
                if frozen_receiver(arg) in plain:
                    yield self.hit(source, arg)


def frozen_receiver(node: ast.AST) -> str | None:
    """`model` of `model.freeze(...)`, as written; else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "freeze"):
        return ast.unparse(node.func.value)
    return None
