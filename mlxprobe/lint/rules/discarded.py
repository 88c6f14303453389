"""MLX102: a statement that calls an MLX op and throws its result away (`mx.clip(w, -1, 1)`,
`optim.clip_grad_norm(grads, 1.0)`, `x.astype(mx.float16)` on an array): MLX ops return new
arrays and change nothing in place, so the statement does nothing, and the code after it
uses the value unchanged (the PyTorch habit of `clamp_`, `clip_grad_norm_`, `.half()`).

Job: find expression statements whose value is a call of an `mlx.core` function (any
submodule but the stateful ones: evaluation, saving, streams, devices, memory, random
seeding, compilation switches, distributed; a name mlx lacks is MLX037's), of
`mlx.optimizers.clip_grad_norm`, of an `mlx.nn.losses` function, or of an array method
that returns a new array on a name the dataflow pass knows holds an array, or of an
optimizer's `apply_gradients` (a name bound to an `mlx.optimizers` constructor, or named
`opt...`): it returns the new parameters and writes no model, so thrown away no weight moves
(fresh182 `solubility_mpnn_applygrads`, MLX-MPNN 25c01bf "forgot to tell the model to learn":
train loss, val loss and val MAE bit-identical at every epoch, 1.0140 / 0.9571 / 0.7716; the
fix `model.update(optimizer.apply_gradients(grads, model.parameters()))`). Stated on the
call's meaning, not on one function's name.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..anchors import starts
from ..dataflow import arrays_in, is_array
from ..finding import Finding
from ..source import SourceFile
from .api import missing
from .base import Rule
from .contracts import CLIP, optimizers
from .update_copy import an_optimizer

# `mlx.core` names (after `mlx.core.`) that act through a side effect or return no array.
STATEFUL_NAMES = (r"eval|async_eval|save\w*|export\w*|import\w*|load|set_\w+|reset_\w+|"
                  r"clear_\w+|get_\w+|synchronize|disable_\w+|enable_\w+|new_stream|stream|"
                  r"default_\w+|compile|checkpoint|custom_function|vmap|grad|value_and_grad|"
                  r"vjp|jvp|random\.seed|random\.key|metal\.[\w.]+|cuda\.[\w.]+|"
                  r"distributed\.[\w.]+|fast\.metal_kernel|fast\.cuda_kernel|\w+_capture|array")
STATEFUL = re.compile(rf"mlx\.core\.(?:{STATEFUL_NAMES})$")
# Array methods that return a new array and leave the receiver as it was.
METHODS = ("astype", "reshape", "transpose", "swapaxes", "moveaxis", "flatten", "squeeze",
           "expand_dims", "abs", "square", "sqrt", "exp", "log", "round", "sum", "mean", "max",
           "min", "maximum", "minimum")
# A line that is such a call as a statement (the text test; the parsed check decides), tried
# only at the lines holding one of WORDS (found in one pass, `anchors.starts`): a regex
# run over every line cost 0.35-0.58 s over the three packages, a `find` per word 0.2 s.
LINE = re.compile(
    rf"[ \t]*(?:mx\.(?!(?:{STATEFUL_NAMES})\()[\w.]+|(?:optim\w*\.)?clip_grad_norm|"
    rf"(?:nn\.)?losses\.(?!append|extend|insert|pop|clear)\w+|"
    rf"\w+\.(?:{'|'.join(METHODS)})|[\w.]+\.apply_gradients)\(")
WORDS = ("mx.", "clip_grad_norm(", "losses.", ".apply_gradients(",
         *(f".{m}(" for m in METHODS))
WORDS_SET = frozenset(WORDS)

# How a line ends when the next one continues its expression (inside brackets, an operator).
CONTINUED = tuple("([{,=+-*/\\|&%<>")


def statement_starts(text: str, at: int) -> bool:
    """The line starting at `at` does not continue the line before it."""
    end = text.rfind("\n", 0, at)
    before = text[text.rfind("\n", 0, end) + 1:end].rstrip() if end > 0 else ""
    return not before.endswith(CONTINUED)


def statement_call(text: str, at: int) -> bool:
    """The line around `at` is a statement that starts with such a call."""
    start = text.rfind("\n", 0, at) + 1
    lead = text[start:at].strip()
    return all(p.isidentifier() for p in lead.split(".") if p) and LINE.match(
        text, start) is not None and statement_starts(text, start)


def pure_call(source: SourceFile, call: ast.Call) -> bool:
    """A call of an MLX function whose only effect is the array it returns."""
    name = source.imports.resolve(call.func) or ""
    if name in CLIP or name.startswith("mlx.nn.losses."):
        return True
    return name.startswith("mlx.core.") and STATEFUL.match(name) is None and not missing(name)


def array_method(source: SourceFile, call: ast.Call, scope: ast.AST) -> bool:
    """`x.astype(...)` (a new-array method) on a name that holds an array in `scope`."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in METHODS
            and isinstance(func.value, ast.Name)):
        return False
    return is_array(source, func.value, arrays_in(source, scope))


def applied_gradients(source: SourceFile, call: ast.Call) -> bool:
    """`optimizer.apply_gradients(grads, params)` on an optimizer."""
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "apply_gradients" and an_optimizer(
        func.value, optimizers(source))


class DiscardedResult(Rule):
    """MLX102: an MLX op called as a statement: its new array is thrown away."""

    id = "MLX102"
    anchors = WORDS
    local = True  # reads one statement and the function around it

    @staticmethod
    def may_fire(text: str) -> bool:
        return any(statement_call(text, at) for at in starts(text, WORDS_SET))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for statement in source.of_type(ast.Expr):
            call = statement.value
            if not isinstance(call, ast.Call):
                continue
            scope = source.enclosing(statement)
            if pure_call(source, call) or applied_gradients(source, call) or (
                    scope is not None and not isinstance(scope, ast.Lambda)
                    and array_method(source, call, scope)):
                yield self.hit(source, call)
