"""MLX095: an nn.Module keeps layers it uses in its forward under a private attribute
(`self._layers = [nn.Linear(...), ...]`, `self._proj = nn.Linear(...)`) or in a tuple
(`self.blocks = tuple(Block(d) for _ in range(n))`).

Job: in the module's own nn.Module classes, find `self._x = <layer>` (a layer built there:
`nn.*`, one of the module's own classes, a list or comprehension of them), or `self.x = ` a
tuple of layers, whose attribute the class's `__call__` reads. MLX's `Module.parameters()`
leaves every key that starts with `_` out (mlx issue 141: private members are constants) and
walks only dicts and lists (mlx-swift issue 362; fresh14 `a14_tuple_blocks_skipped`: blocks
in a tuple kept their init, val_mse 0.173 -> 0.135 against 0.147 -> 0.00074 in a list), so
those layers are never given to the optimizer and never train, while PyTorch's
`nn.ModuleList` under the same name trains.
Measured (mlx 0.32.4 CPU, failure corpus fresh13 `a13_underscore_layers_constant`): one
trainable value (a temperature) of 6155, val_acc 0.079 at every epoch; renamed to
`self.layers`, 6155 trainable values and val_acc 0.991. A private array (a buffer such as
`self._inv_freq`) and an object passed in (`self._teacher = teacher`) are left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import layer_call, module_classes
from ..finding import Finding
from ..flow import assignments, body_assignments, self_attr, walk
from ..source import FUNCTIONS, SourceFile
from .base import Rule

# `self._x = nn.Linear(`, `self._x = [nn.Linear(`, `self._x = Block(`, and any name given a
# tuple of layers, `self.x = (Block(...), ...)`, `self.x = tuple(Block(d) for ...)`: its
# name, the class
PRIVATE_LAYER = re.compile(r"self\.(_\w+) = \[?(?:nn\.)?([A-Z]\w*)\(|"
                           r"self\.(\w+) = (?:\(|tuple\(\[?)\s*(?:nn\.)?([A-Z]\w*)\(")


# mlx.nn layers that hold parameters (activations, dropout, pooling hold none)
PARAMETRIC = ("Linear", "Conv", "Embedding", "LayerNorm", "RMSNorm", "GroupNorm", "BatchNorm",
              "InstanceNorm", "MultiHeadAttention", "LSTM", "GRU", "RNN", "Sequential",
              "Bilinear", "Quantized", "Transformer")


def layer_bindings(text: str) -> list[tuple[str, str]]:
    """(attribute, class) of each `PRIVATE_LAYER` match, private or tuple alike."""
    return [(a or b, k or c) for a, k, b, c in PRIVATE_LAYER.findall(text)]


def bound_and_read(text: str, kinds: set[str]) -> bool:
    """A private (or tuple) binding to one of `kinds`, read again in `text`."""
    return any(kind in kinds and any(f"self.{name}{c}" in text for c in "(:[)")
               for name, kind in layer_bindings(text))


def tuple_call(value: ast.AST) -> ast.AST | None:
    """What `tuple(...)` is given, or None for anything else."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
            and value.func.id == "tuple" and len(value.args) == 1:
        return value.args[0]
    return None


def hidden_name(name: str, value: ast.AST) -> bool:
    """A private attribute, or one given a tuple (`(...)` or `tuple(...)`)."""
    tupled = isinstance(value, ast.Tuple) or tuple_call(value) is not None
    return (name.startswith("_") and not name.startswith("__")) or tupled


def built_layers(source: SourceFile, value: ast.AST, own: dict[str, ast.ClassDef]) -> bool:
    """A layer that holds parameters built here, or a list, tuple or comprehension of them."""
    if (given := tuple_call(value)) is not None:
        return built_layers(source, given, own)
    if isinstance(value, ast.Call):
        return parametric(source, value, own)
    if isinstance(value, (ast.List, ast.Tuple)):
        return bool(value.elts) and all(built_layers(source, e, own) for e in value.elts)
    if isinstance(value, (ast.ListComp, ast.GeneratorExp)):
        return built_layers(source, value.elt, own)
    return False


def parametric(source: SourceFile, call: ast.Call, own: dict[str, ast.ClassDef]) -> bool:
    """`nn.Linear(...)` and the other nn layers with parameters, or one of the module's own
    classes whose `__init__` binds something on `self` from a call (a layer, an array)."""
    if isinstance(call.func, ast.Name) and call.func.id in own:
        init = next((f for f in own[call.func.id].body
                     if isinstance(f, FUNCTIONS) and f.name == "__init__"), None)
        return init is not None and any(
            self_attr(t) is not None and isinstance(v, (ast.Call, ast.List, ast.ListComp))
            for t, v in body_assignments(source, init))
    name = (source.imports.resolve(call.func) or "").rsplit(".", 1)
    return layer_call(source, call, set()) and name[-1].startswith(PARAMETRIC)


def read_in(function: ast.AST) -> set[str]:
    """The `self.x` attributes a method reads."""
    return {n.attr for n in walk(function.body) if isinstance(n, ast.Attribute)
            and isinstance(n.ctx, ast.Load) and self_attr(n) is not None}


class PrivateLayers(Rule):
    """MLX095: `self._layers = [nn.Linear(...)]` read in `__call__`: never trained."""

    id = "MLX095"
    anchors = ("self._", "tuple(", " = (")
    local = True  # reads one class and the classes it builds

    @staticmethod
    def may_fire(text: str) -> bool:
        """A private attribute bound to a layer and read again (`self._x(`, `self._x:`,
        `self._x[`, `self._x)` as in `enumerate(self._layers)`)."""
        return "self." in text and any(
            any(f"self.{name}{c}" in text for c in "(:[)")
            for name, _ in layer_bindings(text))

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks that bind a private layer that holds parameters (an nn layer of
        `PARAMETRIC`, or a class this file defines) and read it again, and the classes of
        this file they build (`parametric` reads their `__init__`)."""
        kinds = {k for _, k in layer_bindings(text)
                 if k.startswith(PARAMETRIC) or f"class {k}(" in text}
        return lambda block: "self." in block and bound_and_read(block, kinds) or any(
            f"class {kind}(" in block for kind in kinds)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        classes = module_classes(source)
        own = {c.name: c for c in classes}
        for cls in classes:
            methods = {f.name: f for f in cls.body if isinstance(f, FUNCTIONS)}
            if "__init__" not in methods or "__call__" not in methods:
                continue
            used = read_in(methods["__call__"])
            for target, value in assignments(walk(methods["__init__"].body)):
                name = self_attr(target)
                if name and hidden_name(name, value) and name in used \
                        and built_layers(source, value, own):
                    yield self.hit(source, target)
