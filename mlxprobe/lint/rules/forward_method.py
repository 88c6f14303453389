"""MLX160: a module class written PyTorch's way, with `forward` and no `__call__`, whose
instance is called (`model(x)`): `mlx.nn.Module` never dispatches a call to `forward`, so the
call raises "TypeError: 'Net' object is not callable". Training that calls
`model.forward(x)` runs, and the crash comes later, where some helper calls the model itself
(an evaluation, a chunked render).

Measured (mlx 0.32.4 CPU, failure corpus fresh54 `forward_only_chunk_render`,
nerf_meets_mlx commit f0bb61e): 200 steps trained through `model.forward(...)`, then the
chunked inference helper's `model(chunk)` raised TypeError: 'DensityField' object is not
callable.

Job: the file's classes deriving from an `mlx.nn` class with a `forward` method and no
`__call__` of their own or of a base class in the file; a call of a name bound to one
(`flow.instances`), of `self.<attr>` bound to one in `__init__`, or of a function's
parameter that the module's calls of the function, or of a gradient or compile
transformation of it, give such a name. Must not import: mlx, anything of
mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..dataflow import function_of, transformed_arg, wrapped
from ..finding import Finding
from ..flow import assignments, body_nodes, instances, method_of, self_attr
from ..source import FUNCTIONS, SourceFile
from .base import Rule


def forward_only(source: SourceFile) -> set[str]:
    """Names of the file's module classes (deriving from an `mlx.nn` class directly or
    through the file's own classes) with a `forward`, their own or a base's, and no
    `__call__` up their bases in the file (a base from elsewhere may define one: left out)."""
    classes = {c.name: c for c in source.of_type(ast.ClassDef)}
    return {c.name for c in classes.values()
            if _up(source, c, classes, _is_module) and _up(source, c, classes, _has_forward)
            and not _up(source, c, classes, _has_call, unknown=True)}


def _up(source: SourceFile, cls: ast.ClassDef, classes: dict[str, ast.ClassDef],
        test: Callable[[SourceFile, ast.ClassDef, ast.AST], bool], unknown: bool = False,
        depth: int = 0) -> bool:
    """`test` holds for the class or a base up its chain in the file; a base neither in the
    file nor in `mlx.nn` answers `unknown`."""
    if test(source, cls, None):
        return True
    for base in cls.bases:
        if test(source, cls, base):
            return True
        local = classes.get(base.id) if isinstance(base, ast.Name) else None
        if local is None:
            if not (source.imports.resolve(base) or "").startswith("mlx.nn.") and unknown:
                return True
        elif depth < 5 and _up(source, local, classes, test, unknown, depth + 1):
            return True
    return False


def _is_module(source: SourceFile, cls: ast.ClassDef, base: ast.AST | None) -> bool:
    return base is not None and (source.imports.resolve(base) or "").startswith("mlx.nn.")


def _has_forward(source: SourceFile, cls: ast.ClassDef, base: ast.AST | None) -> bool:
    return base is None and method_of(cls, "forward") is not None


def _has_call(source: SourceFile, cls: ast.ClassDef, base: ast.AST | None) -> bool:
    return base is None and method_of(cls, "__call__") is not None


def called_names(source: SourceFile, classes: set[str]) -> dict[str, str]:
    """Plain names bound to an instance of one of `classes` -> the class name."""
    return {name: cls.name for name, cls in instances(source).items() if cls.name in classes}


def self_attributes(source: SourceFile, classes: set[str]) -> set[str]:
    """`self.<attr>` bound in some `__init__` to an instance of one of `classes`."""
    found = set()
    for function in source.of_type(*FUNCTIONS):
        if function.name != "__init__":
            continue
        for target, value in assignments(body_nodes(source, function)):
            attr = self_attr(target)
            if attr and isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
                    and value.func.id in classes:
                found.add(attr)
    return found


def parameter_calls(source: SourceFile, names: dict[str, str]) -> Iterator[ast.Call]:
    """Calls of a function's parameter (`model(chunk)` in `def render(model, chunk)`, or in a
    function nested in it) where a module call of the function passes one of `names`: by its
    name, or through a gradient or compile transformation of it (`runs`)."""
    given: dict[ast.AST, set[int]] = {}
    for call in source.of_type(ast.Call):
        at = {i for i, a in enumerate(call.args) if isinstance(a, ast.Name) and a.id in names}
        for function in runs(source, call) if at else ():
            given.setdefault(function, set()).update(at)
    for function, at in given.items():
        params = [a.arg for a in function.args.posonlyargs + function.args.args]
        called = {params[i] for i in at if i < len(params)}
        yield from (c for c in source.of_type(ast.Call) if called
                    and isinstance(c.func, ast.Name) and c.func.id in called
                    and _inside(source, c, function))


def runs(source: SourceFile, call: ast.Call) -> list[ast.AST]:
    """The functions a call hands its arguments to: the module's functions of its name, or
    the one a gradient or compile transformation wraps (`vg(model, x)` with `vg =
    nn.value_and_grad(model, loss_fn)`; `nn.value_and_grad(model, lambda m: ...)(model)`,
    fresh317 `lantern_wick_charlm`, tinyllm 316eaa4: the lambda's `m(x)` raised TypeError)."""
    func = call.func
    if isinstance(func, ast.Call):
        inner = unwrapped(source, func)
        return [inner] if inner is not None else []
    if not isinstance(func, ast.Name):
        return []
    function = wrapped(source).get(func.id)
    return [function] if function is not None else source.functions.get(func.id, [])


def unwrapped(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The function under a transformation, through nested ones (`mx.compile(
    nn.value_and_grad(model, f))`: `f`)."""
    given = transformed_arg(source, call)
    if given is None or given[0] == "thread":
        return None
    inner = given[1]
    return unwrapped(source, inner) if isinstance(inner, ast.Call) and transformed_arg(
        source, inner) else function_of(source, inner)


def _inside(source: SourceFile, node: ast.AST, function: ast.AST) -> bool:
    parent = source.parents.get(node)
    while parent is not None and parent is not function:
        parent = source.parents.get(parent)
    return parent is function


class ForwardWithoutCall(Rule):
    """MLX160: an instance of a module class with `forward` and no `__call__`, called."""

    id = "MLX160"
    anchors = ("def forward(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "def forward(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        classes = forward_only(source)
        if not classes:
            return
        names = called_names(source, classes)
        attrs = self_attributes(source, classes)
        seen: set[int] = set()
        for call in source.of_type(ast.Call):
            func = call.func
            if (isinstance(func, ast.Name) and func.id in names) or self_attr(func) in attrs:
                seen.add(id(call))
                yield self.hit(source, call)
        for call in parameter_calls(source, names):
            if id(call) not in seen:
                seen.add(id(call))
                yield self.hit(source, call)
