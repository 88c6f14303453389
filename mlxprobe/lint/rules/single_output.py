"""MLX156: a model's one output unpacked as a tuple: `logits, _ = model(x)` where the
module's `__call__` (a class of the same file) returns one array at every `return`. An
array unpacks along its first axis, so the line raises "too many values to unpack" (or
"not enough") unless the batch happens to hold exactly as many rows, when it silently
splits the batch instead.

Measured (mlx 0.32.4 CPU, failure corpus fresh49 `lm_tuple_unpack_loss`, mlx-examples PR
773): a loss written for models that returned `(logits, cache)`, given a model refactored to
return logits only, raised ValueError: too many values to unpack (expected 2) at the first
`value_and_grad`; `logits = model(inputs)` trains.

Job: a tuple assignment from a call of a name bound (in the file, always to the same class:
`flow.instances`) to one of the file's own module classes, whose `__call__` returns a
single value (not a tuple, a list, a call of `tuple`, or a name bound to one) at every
`return`. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import assignments, instances, method_of
from ..source import SourceFile
from .base import Rule, trains


def model_instances(source: SourceFile) -> dict[str, ast.ClassDef]:
    """Names bound to an instance of one of the file's module classes, to that class."""
    own = {id(c) for c in module_classes(source)}
    return {name: cls for name, cls in instances(source).items() if id(cls) in own}


def single_output(source: SourceFile, cls: ast.ClassDef, depth: int = 0) -> bool:
    """Every `return` of the class's `__call__` gives one array: arithmetic, an `mx.`/`nn.`
    function, a layer `__init__` built from `mlx.nn`, or a local name bound to one of those
    (anything else may be a tuple: left alone)."""
    call = method_of(cls, "__call__")
    if call is None:
        return False
    layers = nn_layers(source, cls, depth)
    values = [n.value for n in ast.walk(call) if isinstance(n, ast.Return)]
    bound: dict[str, list[ast.AST]] = {}
    for target, value in assignments(list(ast.walk(call))):
        if isinstance(target, ast.Name):
            bound.setdefault(target.id, []).append(value)
    return bool(values) and all(v is not None and _one(source, v, layers, bound) for v in values)


def nn_layers(source: SourceFile, cls: ast.ClassDef, depth: int = 0) -> set[str]:
    """`self.<name>` attributes `__init__` binds to an `mlx.nn` layer, or to one of the
    file's module classes whose `__call__` gives one array itself (two classes deep)."""
    init = method_of(cls, "__init__")
    own = {c.name: c for c in module_classes(source)}
    found = set()
    for target, value in assignments(list(ast.walk(init)) if init else []):
        if not (isinstance(target, ast.Attribute) and isinstance(value, ast.Call)):
            continue
        name = source.imports.resolve(value.func) or ""
        local = own.get(value.func.id) if isinstance(value.func, ast.Name) else None
        if name.startswith("mlx.nn.") or (local is not None and local is not cls and depth < 2
                                          and single_output(source, local, depth + 1)):
            found.add(target.attr)
    return found


def _one(source: SourceFile, value: ast.AST, layers: set[str],
         bound: dict[str, list[ast.AST]], depth: int = 0) -> bool:
    if isinstance(value, ast.BinOp):
        return True
    if isinstance(value, ast.Name) and value.id in bound and depth < 3:
        return all(_one(source, v, layers, bound, depth + 1) for v in bound[value.id])
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id == "self":
        return func.attr in layers
    return (source.imports.resolve(func) or "").startswith(("mlx.core.", "mlx.nn."))


class SingleOutputUnpacked(Rule):
    """MLX156: `logits, _ = model(inputs)` on a module that returns logits only."""

    id = "MLX156"
    anchors = ("nn.Module",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "nn.Module" in text and trains(text) and "_ = " in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        bound = model_instances(source)
        for target, value in assignments(source.of_type(ast.Assign)):
            if not (isinstance(target, ast.Tuple) and isinstance(value, ast.Call)):
                continue
            cls = bound.get(ast.unparse(value.func))
            if cls is not None and single_output(source, cls):
                yield self.hit(source, value)
