"""MLX060: a function compiled with `shapeless=True` reads an input's shape as a number
(`x.reshape(x.shape[0], -1)`, `mx.zeros((x.shape[0], d))`, `range(x.shape[1])`, `B, L, D =
x.shape`): a shapeless compile traces once and replays that graph for inputs of every later
shape, so the shape values of the first call are kept.

Job: find the shapeless compiles (decorator, call, `partial`), what they run (the function,
its same-module helpers, the functions it hands to a gradient transformation, and the module's
own model classes when it runs a model), and the shape reads in that code. The last axis
(`x.shape[-1]`, a feature size a shapeless caller keeps fixed) and the shapes of attributes
(`self.weight.shape`, fixed by the model) are left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import (
    COMPILE,
    function_of,
    module_classes,
    module_instances,
    partial_of,
    transformed_arg,
    wrapped,
)
from ..finding import Finding
from ..flow import calls, reach
from ..names import NN_GRAD
from ..partial import DEFINES, WORD, blocks, closure
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .transforms import compiles

SHAPELESS = "shapeless=True"
# How far around `shapeless=True` the text test looks for a shape read, a gradient or a model:
# the compiled function (or the call that compiles it) and the code it runs sit there in
# every program seen; mlx-lm's and mlx-vlm's shapeless activations, far from any shape read,
# then need no full parse (12 files of the three packages pass, 33 with no window: +0.7 s).
WINDOW = 500
NEAR = (".shape", "grad(", "model")
PLAIN_CALL = re.compile(r"(?<![\w.])(\w+)\s*\(")


def shapeless(call: ast.AST) -> bool:
    return isinstance(call, ast.Call) and any(
        k.arg == "shapeless" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords)


def shapeless_functions(source: SourceFile) -> Iterator[ast.AST]:
    """The module's own functions compiled with `shapeless=True`."""
    for function in source.of_type(*FUNCTIONS):
        if any(compiles(source, d) and shapeless(d) for d in function.decorator_list):
            yield function
    for call in source.of_type(ast.Call):
        compiled = _compiled_arg(source, call)
        function = function_of(source, compiled) if compiled is not None else None
        if function is not None:
            yield function


def _compiled_arg(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """`f` in `mx.compile(f, shapeless=True)` or `partial(mx.compile, shapeless=True)(f)`."""
    maker = call if shapeless(call) else call.func if shapeless(call.func) else None
    if maker is None or not call.args:
        return None
    target = maker.func if maker is call else partial_of(maker)
    return call.args[0] if source.imports.resolve(target) in COMPILE else None


def runs(source: SourceFile, function: ast.AST) -> list[ast.AST]:
    """What a compiled function runs: its body and helpers, the functions it transforms, and
    the methods of the module's model classes when it calls a model."""
    body = function.body if isinstance(function.body, list) else [function.body]
    nodes = reach(source, body, wrapped(source))
    for call in list(calls(nodes)):
        given = transformed_arg(source, call)
        inner = function_of(source, given[1]) if given else None
        if inner is not None and not isinstance(inner, ast.Lambda):
            nodes += reach(source, inner.body)
    if any(_runs_model(source, c) for c in calls(nodes)):
        methods = [f for c in module_classes(source) for f in c.body if isinstance(f, FUNCTIONS)]
        nodes += reach(source, [s for f in methods for s in f.body])
    return nodes


def _runs_model(source: SourceFile, call: ast.Call) -> bool:
    """`model(x)` or `nn.value_and_grad(model, f)` for a name bound to a module."""
    instances = module_instances(source)
    if isinstance(call.func, ast.Name) and call.func.id in instances:
        return True
    return (source.imports.resolve(call.func) in NN_GRAD and bool(call.args)
            and isinstance(call.args[0], ast.Name) and call.args[0].id in instances)


def read_as_number(source: SourceFile, shape: ast.Attribute) -> bool:
    """`x.shape[0]`, `x.shape[:2]`, `B, L = x.shape`, `mx.zeros(x.shape)`; not
    `x.shape[-1]`, nor the shape of an attribute."""
    root = shape.value
    while isinstance(root, (ast.Attribute, ast.Subscript)):
        root = root.value
    if not isinstance(root, ast.Name) or root.id == "self":
        return False
    parent = source.parents.get(shape)
    if isinstance(parent, ast.Subscript) and parent.value is shape:
        return ast.unparse(parent.slice) != "-1"
    if isinstance(parent, ast.Call):
        return not (isinstance(parent.func, ast.Name) and parent.func.id == "len")
    return isinstance(parent, (ast.Assign, ast.Tuple, ast.List))


class ShapelessCompileReadsShape(Rule):
    """MLX060: `@partial(mx.compile, shapeless=True)` over code that computes with an input's
    shape (`x.reshape(x.shape[0], -1)`): a batch of another size fails or is silently
    wrong."""

    id = "MLX060"
    anchors = (SHAPELESS,)

    @staticmethod
    def may_fire(text: str) -> bool:
        at = text.find(SHAPELESS)
        while at >= 0:
            near = text[max(0, at - WINDOW):at + WINDOW]
            if any(n in near for n in NEAR):
                return ".shape" in text
            at = text.find(SHAPELESS, at + 1)
        return False

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool] | None:
        """The blocks that compile shapeless and what they run (`closure`); the whole module
        when that code calls a name bound by assignment (a model instance, a transformed
        function: what it runs is found from its binding)."""
        named = {w for line in text.splitlines() if SHAPELESS in line for w in WORD.findall(line)}
        kept = closure(text, lambda b: SHAPELESS in b or not named.isdisjoint(DEFINES.findall(b)))
        defined = {n for b in blocks(text) for n in DEFINES.findall(b)}
        called = {n for b in kept for n in PLAIN_CALL.findall(b)} - defined
        if "grad(" in "".join(kept) or any(bound(text, n) for n in called):
            return None
        return kept.__contains__

    def check(self, source: SourceFile) -> Iterator[Finding]:
        lines: set[int] = set()
        for function in shapeless_functions(source):
            for node in runs(source, function):
                if (isinstance(node, ast.Attribute) and node.attr == "shape"
                        and isinstance(node.ctx, ast.Load) and node.lineno not in lines
                        and read_as_number(source, node)):
                    lines.add(node.lineno)
                    yield self.hit(source, node)


def bound(text: str, name: str) -> bool:
    """`name = ...` (or `name: T = ...`) somewhere in the text."""
    return re.search(rf"(?<![\w.]){re.escape(name)}\s*(?::[^=\n]*)?=(?!=)", text) is not None
