"""MLX175: a model that holds BatchNorm, trained in the file, then called on a batch of one
example (`model(x[None])`, `mx.expand_dims(x, 0)`, `x[i:i + 1]`, `x.reshape(1, ...)`) with
no `.eval()` (or `.train(False)`) anywhere in the file: BatchNorm is still in training mode,
so it normalises that one example by its own statistics.

Measured (mlx 0.32.4 CPU): `nn.BatchNorm(4)` in training mode on a (1, 4) input raises
`ValueError: BatchNorm training requires more than one value per channel`; on a (1, 3, 4)
input it returns all zeros for a constant example (each channel normalised over one
example's positions). Failure corpus fresh97 `lid_embed_bn_eval` (mlx-audio PR 896): an
x-vector model scored utterances one at a time after each epoch and crashed with that error
at the first one; with `model.eval()` before the scoring and `model.train()` after it, it
trained and scored (val acc 0.99).

Job: the module's classes whose methods bind `nn.BatchNorm(...)` (on `self`, or in a list or
`nn.Sequential` built there); names bound to an instance of one; of those, the ones an
optimizer steps (`optimizer.update(model, grads)`) somewhere in the file; a call of one of
them (or of a function parameter a module function receives it as) on a batch-of-one
expression. A file that calls `.eval()` (with no arguments, not `mx.eval`) or
`.train(False)` anywhere is left alone.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import calls, instances
from ..names import last_name
from ..source import SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update, updated_model

EVAL_MODE = re.compile(r"(?<!mx)(?<!core)\.eval\(\s*\)|\.train\(\s*(?:False|mode\s*=\s*False)")


def norm_classes(source: SourceFile) -> set[str]:
    """The module's classes that build an `nn.BatchNorm` in one of their methods."""
    return {cls.name for cls in source.of_type(ast.ClassDef)
            if any(last_name(c.func) == "BatchNorm" for c in calls(ast.walk(cls)))}


def trained_models(source: SourceFile, classes: set[str]) -> set[str]:
    """Names bound to an instance of one of `classes` that an optimizer steps."""
    made = {name for name, cls in instances(source).items() if cls.name in classes}
    stepped = {updated_model(c) for c in source.of_type(ast.Call)
               if is_optimizer_update(source, c)}
    return {name for name in made if any(
        isinstance(m, ast.Name) and m.id == name for m in stepped)}


def one_example(node: ast.AST) -> bool:
    """`x[None]`, `x[None, ...]`, `x[i:i + 1]`, `mx.expand_dims(x, 0)`, `x.reshape(1, ...)`."""
    if isinstance(node, ast.Subscript):
        first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) and node.slice.elts \
            else node.slice
        return _constant(first, None) or _width_one(first)
    if isinstance(node, ast.Call):
        name = last_name(node.func)
        if name == "expand_dims" and len(node.args) == 2:
            return _constant(node.args[1], 0)
        if name == "reshape" and isinstance(node.func, ast.Attribute) and node.args:
            return _constant(node.args[0], 1)
    return False


def _constant(node: ast.AST, value: object) -> bool:
    """`node` is the literal `value` (of its own type: `True` is no 1)."""
    return isinstance(node, ast.Constant) and type(node.value) is type(value) \
        and node.value == value


def _width_one(node: ast.AST) -> bool:
    """`i:i + 1`: a slice one element wide."""
    if not isinstance(node, ast.Slice) or node.lower is None or node.step is not None:
        return False
    upper = node.upper
    return (isinstance(upper, ast.BinOp) and isinstance(upper.op, ast.Add)
            and _constant(upper.right, 1) and ast.dump(upper.left) == ast.dump(node.lower))


def receivers(source: SourceFile, models: set[str]) -> set[ast.arg]:
    """The parameters of module functions that a call passes one of `models` to."""
    found = set()
    for call in source.of_type(ast.Call):
        function = source.local_function(call.func.id) if isinstance(call.func, ast.Name) \
            else None
        params = function.args.args if function is not None else []
        for param, arg in zip(params, call.args):
            if isinstance(arg, ast.Name) and arg.id in models:
                found.add(param)
    return found


class SingleExampleNorm(Rule):
    """MLX175: `model(x[None])` on a trained BatchNorm model never put in eval mode."""

    id = "MLX175"
    anchors = ("BatchNorm",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "BatchNorm" in text and EVAL_MODE.search(text) is None and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        models = trained_models(source, norm_classes(source))
        if not models:
            return
        params = receivers(source, models)
        for call in source.of_type(ast.Call):
            if call.args and one_example(call.args[0]) and self._model_call(
                    source, call, models, params):
                yield self.hit(source, call)

    @staticmethod
    def _model_call(source: SourceFile, call: ast.Call, models: set[str],
                    params: set[ast.arg]) -> bool:
        """`call` calls a trained model by its name, or by the parameter a function
        receives it as."""
        if not isinstance(call.func, ast.Name):
            return False
        name = call.func.id
        function = source.enclosing(call)
        own = [p for p in function.args.args if p.arg == name] if function is not None \
            and hasattr(function, "args") else []
        return bool(own and own[0] in params) if own else name in models
