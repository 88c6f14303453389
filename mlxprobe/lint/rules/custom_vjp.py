"""MLX076: a module run inside an `mx.custom_function`: its parameters get no gradient.

Job: `mx.custom_function` replaces autodiff of its body by the `vjp` the program gives,
which returns cotangents for the function's arguments only. A layer the body calls without
taking its parameters as an argument (a module closed over: a global model, or one handed to
a factory that builds the custom function) is outside the differentiated arguments: its
weights never get a gradient. Find a custom function whose body calls a module instance of
the file, or calls a name that is an argument of the function that builds it, when that
builder is called with a layer (`clip_backward(self.encoder, 0.5)`). Measured (mlx 0.32.4
CPU, failure corpus fresh7 `custom_vjp_wraps_encoder_frozen`, mlx issue 1669): a
gradient-clipping wrapper around the encoder: the encoder's layers unchanged over 979 steps
while the head trained; wrapping only the encoder's output (identity forward, clipped
backward): all layers train. A custom function of its own arguments only, or a builder
handed a plain function, is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import layer_attributes, module_instances
from ..finding import Finding
from ..flow import arguments, bound_arguments, calls, walk
from ..source import FUNCTIONS, SourceFile
from .base import Rule

CUSTOM = "mlx.core.custom_function"


def custom_functions(source: SourceFile) -> Iterator[ast.AST]:
    """The defs decorated with `mx.custom_function`."""
    for function in source.of_type(*FUNCTIONS):
        if any(source.imports.resolve(d) == CUSTOM for d in function.decorator_list):
            yield function


def with_vjp(source: SourceFile) -> set[ast.AST]:
    """The custom functions whose gradient the program gives (`@f.vjp` on a def, or a call
    `f.vjp(g)`): autodiff never runs through their bodies (cached)."""
    return source.cached("with_vjp", source.tree, lambda: _with_vjp(source))


def vjp_defs(source: SourceFile) -> dict[str, list[ast.AST]]:
    """The defs given as a VJP with `@name.vjp`, by the custom function's name (cached)."""
    return source.cached("vjp_defs", source.tree, lambda: _vjp_defs(source))


def _vjp_defs(source: SourceFile) -> dict[str, list[ast.AST]]:
    found: dict[str, list[ast.AST]] = {}
    for f in source.of_type(*FUNCTIONS):
        for d in f.decorator_list:
            if isinstance(d, ast.Attribute) and d.attr == "vjp" and isinstance(d.value, ast.Name):
                found.setdefault(d.value.id, []).append(f)
    return found


def _with_vjp(source: SourceFile) -> set[ast.AST]:
    given = set(vjp_defs(source))
    given |= {c.func.value.id for c in source.of_type(ast.Call)
              if isinstance(c.func, ast.Attribute) and c.func.attr == "vjp"
              and isinstance(c.func.value, ast.Name)}
    return {f for f in custom_functions(source) if f.name in given}


def no_gradient_at(source: SourceFile, name: str, index: int) -> bool:
    """The VJP given for the custom function `name` (`@name.vjp` on a def) returns, at every
    return, no gradient for its argument `index`: `mx.zeros_like(...)`, `mx.zeros(...)` or
    `None` in that place (feedback alignment's fixed random matrix: fresh380
    `orchard_feedback_align`, correct)."""
    returns = [n.value for f in vjp_defs(source).get(name, [])
               for n in walk(f.body) if isinstance(n, ast.Return)]
    return bool(returns) and all(
        isinstance(r, (ast.Tuple, ast.List)) and index < len(r.elts)
        and _no_gradient(source, r.elts[index]) for r in returns)


def _no_gradient(source: SourceFile, node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None
    return isinstance(node, ast.Call) and source.imports.resolve(node.func) in (
        "mlx.core.zeros_like", "mlx.core.zeros")


def outside_autodiff(source: SourceFile, function: ast.AST | None) -> bool:
    """MLX never differentiates this function's body: a custom function with a VJP
    (`with_vjp`), the VJP itself (`@f.vjp`), or a module-level helper that only such
    functions call (fresh90 `vineyard_moisture_deep_kernel_gp`: `mx.linalg.inv` in a helper
    shared by a custom NLML and its hand-written VJP)."""
    return function is not None and function in _outside(source)


def _outside(source: SourceFile) -> set[ast.AST]:
    return source.cached("outside_autodiff", source.tree, lambda: _outside_of(source))


def _outside_of(source: SourceFile) -> set[ast.AST]:
    """Custom functions with a VJP and their VJPs, then, until nothing is added, each def
    of the module whose every call (by its name) lies inside one of those found."""
    found = set(with_vjp(source)) | {f for f in source.of_type(*FUNCTIONS) if any(
        isinstance(d, ast.Attribute) and d.attr == "vjp" for d in f.decorator_list)}
    defs = [f for f in source.tree.body if isinstance(f, FUNCTIONS)]
    grew = bool(found)
    while grew:
        grew = False
        for helper in defs:
            if helper not in found and _called_only_inside(source, helper.name, found):
                found.add(helper)
                grew = True
    return found


def _called_only_inside(source: SourceFile, name: str, found: set[ast.AST]) -> bool:
    """`name` is read at least once, and every read of it is a call inside a function of
    `found` (a name passed on or stored may be called anywhere)."""
    reads = [n for n in source.of_type(ast.Name) if n.id == name and isinstance(n.ctx, ast.Load)]
    return bool(reads) and all(
        isinstance(call := source.parents.get(n), ast.Call) and call.func is n
        and _within(source, n, found) for n in reads)


def _within(source: SourceFile, node: ast.AST, found: set[ast.AST]) -> bool:
    parent = source.parents.get(node)
    while parent is not None:
        if parent in found:
            return True
        parent = source.parents.get(parent)
    return False


def free_callees(function: ast.AST) -> set[str]:
    """Names the function's body calls that are not its own arguments."""
    own = arguments(function)
    return {c.func.id for c in calls(walk(function.body))
            if isinstance(c.func, ast.Name) and c.func.id not in own}


def is_layer(source: SourceFile, node: ast.AST | None) -> bool:
    """`self.encoder` (a layer attribute) or a module instance's name."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id == "self" and node.attr in layer_attributes(source)
    return isinstance(node, ast.Name) and node.id in module_instances(source)


class ModuleInCustomFunction(Rule):
    """MLX076: `@mx.custom_function def f(x): return encoder(x)` with `encoder` a module
    closed over, or handed to the builder of `f`."""

    id = "MLX076"
    anchors = ("custom_function",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "custom_function" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in custom_functions(source):
            free = free_callees(function)
            if free & module_instances(source):
                yield self.hit(source, function)
                continue
            builder = source.enclosing(function)
            if builder is None:
                continue
            handed = free & arguments(builder)
            yield from (self.hit(source, c) for c in self._builds(source, builder)
                        if any(is_layer(source, bound_arguments(builder, c).get(n))
                               for n in handed))

    @staticmethod
    def _builds(source: SourceFile, builder: ast.AST) -> list[ast.Call]:
        return [c for c in source.of_type(ast.Call)
                if isinstance(c.func, ast.Name) and c.func.id == builder.name]
