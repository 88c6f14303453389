"""MLX046: parameters cast to bfloat16 and stepped by an Adam-family optimizer whose learning
rate is at most 1e-4.

Job: tie `model.set_dtype(mx.bfloat16)` to the optimizer that updates `model` and read that
optimizer's learning rate. bfloat16 keeps 8 significant bits: an update is lost when it is
below half a unit in the last place, |step| < |w| / 256. Adam's step is about the learning
rate, so with lr <= 1e-4 every weight with |w| > 0.0256 (most of a freshly initialised or
pretrained matrix) never changes, with no error (unsloth-zoo PR #684: keep float32 master
weights).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments
from ..names import last_name
from ..source import SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update
from .numerics import module_constants

BFLOAT16 = "mlx.core.bfloat16"
ADAM_FAMILY = frozenset(f"mlx.optimizers.{n}" for n in ("Adam", "AdamW", "Adamax", "Lion"))
SMALL_LR = 1e-4


def constant_value(node: ast.AST, constants: dict[str, ast.AST]) -> ast.AST:
    """A module constant's value for its name; the node itself otherwise."""
    return constants.get(node.id, node) if isinstance(node, ast.Name) else node


def learning_rate(call: ast.Call, constants: dict[str, ast.AST]) -> float | None:
    """The literal learning rate of `optim.AdamW(learning_rate=2e-5)` (or positional)."""
    given = next((k.value for k in call.keywords if k.arg == "learning_rate"), None)
    given = given if given is not None else (call.args[0] if call.args else None)
    value = constant_value(given, constants) if given is not None else None
    if isinstance(value, ast.Constant) and isinstance(value.value, (int, float)):
        return float(value.value)
    return None


def optimizers(source: SourceFile, constants: dict[str, ast.AST]) -> dict[str, float]:
    """Names bound to an Adam-family optimizer -> its literal learning rate."""
    found: dict[str, float] = {}
    for target, value in assignments(source.of_type(ast.Assign)):
        if isinstance(value, ast.Call) and source.imports.resolve(value.func) in ADAM_FAMILY:
            rate = learning_rate(value, constants)
            if rate is not None and isinstance(target, ast.Name):
                found[target.id] = rate
    return found


def slow_models(source: SourceFile, constants: dict[str, ast.AST]) -> set[str]:
    """What an optimizer with a learning rate <= 1e-4 updates, as source text."""
    rates = optimizers(source, constants)
    return {ast.unparse(c.args[0] if c.args else c.keywords[0].value)
            for c in source.of_type(ast.Call) if is_optimizer_update(source, c)
            and rates.get(last_name(c.func.value) or "", 1.0) <= SMALL_LR}


class Bfloat16SmallSteps(Rule):
    """MLX046: `model.set_dtype(mx.bfloat16)` for a model an Adam-family optimizer with a
    literal learning rate <= 1e-4 updates."""

    id = "MLX046"

    @staticmethod
    def may_fire(text: str) -> bool:
        return "bfloat16" in text and "set_dtype(" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        constants = module_constants(source)
        slow = slow_models(source, constants)
        for call in source.of_type(ast.Call):
            if last_name(call.func) != "set_dtype" or len(call.args) != 1:
                continue
            dtype = constant_value(call.args[0], constants)
            if source.imports.resolve(dtype) == BFLOAT16 and ast.unparse(
                    call.func.value) in slow:
                yield self.hit(source, call)
