"""MLX242: `mx.value_and_grad(loss_fn)(model)` or `mx.grad(f)(model, x)`: MLX's own transform
handed the `nn.Module` itself as the argument it differentiates. The transform flattens that
argument as a tree of arrays; a module is a dict of its layers, arrays and any list, tuple or
dict attribute the program keeps on it (layer widths, a config), so the first non-array leaf
in one raises `ValueError: [tree_flatten] The argument should contain only arrays`; and every
array of the module is differentiated, frozen or quantized ones too, so an optimizer handed
those gradients trains what the program froze. `nn.value_and_grad(model, loss_fn)`
differentiates the model's trainable parameters and calls the loss with the model itself.

Measured (mlx 0.32.4 CPU, failure corpus fresh205 `grpo_digitsum_trainer`, mlx-grpo dd5f24b):
a GRPO trainer's `mx.value_and_grad(loss_fn)(self.model)`, the policy keeping a list of
widths, raised that ValueError at the first step; with `nn.value_and_grad(self.model,
loss_fn)(self.model)` it trained. A module of layers alone (and plain int, float or str
attributes, which a module keeps outside its dict) goes through: the loss is called with the
module, the gradients come back as a dict of the same tree, and `optimizer.update(model,
grads)` trains it (measured: `self.w = 4`, `self.name = "x"` pass; `self.widths = [4, 8]`,
`self.t = (1, 2)`, `self.cfg = {"a": 1}` raise; fresh347 `alloy_quench_latent_ok`, correct,
trains so: a finding there was false). So the rule fires only where the module's file keeps
such a container on a module class or freezes or quantizes.

Job: a call of `mx.value_and_grad(f, ...)` / `mx.grad(f, ...)` (or of a name bound to one)
whose argument at the differentiated position (`argnums`, a constant or absent: 0) is a
module: a name bound to an `mlx.nn` layer or an instance of the module's own nn.Module class
(`dataflow.module_instances`), or `self.x` that the enclosing class's `__init__` binds to such a
construction or to a parameter that every construction of the class in the module fills
with one; in a file that freezes or quantizes a module (`frozen_differentiated.frozen_in`),
or whose own nn.Module classes bind `self.x` to a list, tuple or dict (a display or
comprehension with an item that builds no layer, a `list(...)`/`tuple(...)`/`dict(...)` call,
or a parameter whose default is one).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import layer_call, module_classes, module_instances
from ..finding import Finding
from ..flow import assignments, bound_arguments, defaults, method_of, self_attr
from ..names import MX_GRAD
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .frozen_differentiated import frozen_in


class ModuleArgument(Rule):
    """MLX242: `mx.value_and_grad(loss_fn)(model)`: the module differentiated as a tree."""

    id = "MLX242"
    anchors = ("value_and_grad(", "grad(")

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mx.value_and_grad(" in text or "mx.grad(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not (frozen_in(source, source.of_type(ast.Call)) or kept_containers(source)):
            return
        transforms = bound_transforms(source)
        for call in source.of_type(ast.Call):
            made = transform_of(source, call.func, transforms)
            at = argnum(made) if made is not None else None
            if at is not None and at < len(call.args) and is_module(source, call.args[at]):
                yield self.hit(source, call.args[at])


# what a module keeps in its tree (measured: lists, tuples and dicts; ints, floats and
# strings are kept outside it)
CONTAINERS = (ast.List, ast.Tuple, ast.Dict, ast.ListComp, ast.DictComp)
CONTAINER_CALLS = frozenset({"list", "tuple", "dict"})


def kept_containers(source: SourceFile) -> bool:
    """A module class of the file binds `self.x` to a container of more than layers."""
    classes = {c.name for c in module_classes(source)}
    for cls in module_classes(source):
        for function in (f for f in cls.body if isinstance(f, FUNCTIONS)):
            given = defaults(function)
            for target, value in assignments(ast.walk(function)):
                value = given.get(value.id, value) if isinstance(value, ast.Name) else value
                if self_attr(target) is not None and container(source, value, classes):
                    return True
    return False


def container(source: SourceFile, value: ast.AST, classes: set[str]) -> bool:
    """A list, tuple or dict with an item that builds no layer (an empty one is filled with
    layers later, as a block list is), or a `list(...)`-style call."""
    if isinstance(value, ast.Call):
        return isinstance(value.func, ast.Name) and value.func.id in CONTAINER_CALLS
    if not isinstance(value, CONTAINERS):
        return False
    items = [value.elt] if isinstance(value, ast.ListComp) else \
        [value.value] if isinstance(value, ast.DictComp) else \
        [v for v in value.values] if isinstance(value, ast.Dict) else list(value.elts)
    return any(not (isinstance(i, ast.Call) and layer_call(source, i, classes)) for i in items)


def transform_of(source: SourceFile, func: ast.AST,
                 transforms: dict[str, ast.Call]) -> ast.Call | None:
    """The `mx.value_and_grad(...)` call `func` is, or the one its name is bound to."""
    if isinstance(func, ast.Call) and source.imports.resolve(func.func) in MX_GRAD:
        return func
    return transforms.get(func.id) if isinstance(func, ast.Name) else None


def bound_transforms(source: SourceFile) -> dict[str, ast.Call]:
    """Names bound (once) to `mx.value_and_grad(...)` / `mx.grad(...)`."""
    found: dict[str, list[ast.AST]] = {}
    for target, value in assignments(source.of_type(ast.Assign)):
        if isinstance(target, ast.Name):
            found.setdefault(target.id, []).append(value)
    return {name: values[0] for name, values in found.items() if len(values) == 1
            and isinstance(values[0], ast.Call)
            and source.imports.resolve(values[0].func) in MX_GRAD}


def argnum(made: ast.Call) -> int | None:
    """The differentiated position: `argnums` when a constant int, 0 when absent."""
    given = next((k.value for k in made.keywords if k.arg == "argnums"),
                 made.args[1] if len(made.args) > 1 else None)
    if given is None:
        return 0
    ok = isinstance(given, ast.Constant) and type(given.value) is int
    return given.value if ok else None


def is_module(source: SourceFile, node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in module_instances(source)
    attr = self_attr(node)
    cls = source.enclosing(node, (ast.ClassDef,)) if attr is not None else None
    return cls is not None and holds_module(source, cls, attr)


def holds_module(source: SourceFile, cls: ast.ClassDef, attr: str) -> bool:
    """`cls.__init__` binds `self.attr` to a module construction, or to a parameter that
    every construction of `cls` in the module fills with one."""
    init = method_of(cls, "__init__")
    if init is None:
        return False
    classes = {c.name for c in module_classes(source)}
    values = [v for t, v in assignments(ast.walk(init)) if self_attr(t) == attr]
    if len(values) != 1:
        return False
    value = values[0]
    if isinstance(value, ast.Call):
        return layer_call(source, value, classes)
    if not isinstance(value, ast.Name):
        return False
    made = [c for c in source.of_type(ast.Call)
            if isinstance(c.func, ast.Name) and c.func.id == cls.name]
    given = [bound_arguments(init, c).get(value.id) for c in made]
    return bool(given) and all(isinstance(g, ast.Call) and layer_call(source, g, classes)
                               for g in given)
