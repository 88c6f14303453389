"""MLX195: a function handed the path of trained weights (an adapter, a checkpoint) that
never reads it: `def score(base_model, adapter_path, data): return evaluate(base_model,
data)`. Whatever the function loads or scores is built without what was trained (the base
model), with no error: the score is the untrained model's at every call.

Measured (mlx 0.32.4 CPU, failure corpus fresh170 `toolcall_ratchet_adapter`, from mlx-forge
dacc17b: `_score_model(base_model, adapter_path, data_path)` called `evaluate(base_model,
data_path)`): eight LoRA experiments trained (loss 1.75 -> 0.26) and every one scored the base
model's 0.1650, so none was kept; passing `adapter_path=adapter_path` on, 0.53 to 0.885.

Job: a parameter of a module function (no method's `self`) whose name names trained weights
(`adapter`, `checkpoint`, `ckpt`, `weights`, `lora` with `path`, `file` or `dir`, or one of
those words alone as `adapter_path` is spelled) that the function's body never reads, in a
function that calls something (not an empty or abstract one). Must not import: mlx, anything
of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, calls
from ..names import MX_GRAD, NN_GRAD
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .evaluation import trains

WEIGHTS_PATH = re.compile(r"^(?:\w+_)?(?:adapters?|checkpoint|ckpt|weights|lora)_?(?:path|file|"
                          r"dir|filename)$")


def _reads(function: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(function) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def dropped(function: ast.AST) -> list[ast.arg]:
    """The weights-path parameters the function never reads."""
    args = function.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    named = [a for a in params if WEIGHTS_PATH.match(a.arg)]
    if not named or not any(isinstance(n, ast.Call) for n in ast.walk(function)):
        return []
    read = _reads(function)
    return [a for a in named if a.arg not in read]


class DroppedWeightsPath(Rule):
    """MLX195: `def score(model, adapter_path, data): return evaluate(model, data)`."""

    id = "MLX195"
    anchors = ("def ",)
    local = True  # one function
    file_words = "mlx\n"

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mlx" in text and "def " in text and any(
            w in text for w in ("adapter", "checkpoint", "ckpt", "weights_", "lora_"))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            if trains_itself(source, function):
                continue  # it trains the model it is given: no base model scored
            for arg in dropped(function):
                yield self.hit(source, arg)


def trains_itself(source: SourceFile, function: ast.AST) -> bool:
    """The function takes gradients or steps an optimizer (fresh236
    `lockkeeper_ledger_resume`: `run_session(..., ckpt_dir)` trains the model it is handed
    and leaves saving to its caller; its unread `ckpt_dir` drops no trained weights)."""
    return trains(source, function) or any(source.imports.resolve(c.func) in NN_GRAD | MX_GRAD
                                           for c in calls(body_nodes(source, function)))
