"""MLX222: a file written from `trainable_parameters()` (the adapters, a subset of the model)
loaded back with `load_weights(path)` and its default `strict=True`: the load raises
"Missing parameters" for every frozen weight the file does not hold.

Measured (mlx 0.32.4 CPU, failure corpus fresh218 `kiln_glaze_lora_reload`, mlx-examples
issue 228: the LoRA example reloaded its adapters after `load_weights` became strict by
default): LoRA adapters saved with `mx.save_safetensors(path,
dict(tree_flatten(model.trainable_parameters())))` and loaded into a rebuilt base + LoRA
model with `model2.load_weights(path)` raised "ValueError: Missing 6 parameters" (the frozen
head and base linears) before session 2 trained; with `strict=False` it resumed at val acc
0.889. mlx-lm's tuner saves and loads its adapters the same way, with `strict=False`.

Job: in one module, a save call (`contracts.SAVERS`: `mx.save_safetensors`, `mx.savez`, ...)
whose arguments call `.trainable_parameters()`, and a `.load_weights(p)` of the same path
expression (the same text) with no `strict` keyword or `strict=True`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile, descendants
from .base import Rule
from .contracts import SAVERS


class SubsetLoad(Rule):
    """MLX222: `mx.save_safetensors(p, dict(tree_flatten(model.trainable_parameters())))`, then
    `model2.load_weights(p)`."""

    id = "MLX222"
    anchors = ("trainable_parameters()",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "trainable_parameters()" in text and ".load_weights(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        subsets = {ast.unparse(call.args[0]) for call in source.of_type(ast.Call)
                   if source.imports.resolve(call.func) in SAVERS and call.args
                   and trainable_saved(call)}
        for call in source.of_type(ast.Call):
            if (isinstance(call.func, ast.Attribute) and call.func.attr == "load_weights"
                    and call.args and ast.unparse(call.args[0]) in subsets and strict(call)):
                yield self.hit(source, call)


def trainable_saved(call: ast.Call) -> bool:
    """The call's arguments call `.trainable_parameters()`."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "trainable_parameters" for a in call.args[1:]
               for n in descendants(a))


def strict(call: ast.Call) -> bool:
    """`load_weights` left strict: no `strict` keyword, or `strict=True`."""
    given = next((k.value for k in call.keywords if k.arg == "strict"), None)
    if given is None:
        return len(call.args) < 2
    return isinstance(given, ast.Constant) and given.value is True
