"""MLX274: an `mlx.nn` layer class called on an array as if it were the layer's function:
`x = nn.MaxPool2d(x, kernel_size=2, stride=2)` inside a forward pass (PyTorch's
`F.max_pool2d(x, ...)` spelling, or a layer meant to be built in `__init__`). A layer's
constructor takes sizes and options, never the input: the call builds nothing usable and
raises at the first forward pass.

Measured (mlx 0.32.4 CPU, a (1, 8, 8, 3) array as the first argument): `nn.MaxPool2d(x,
kernel_size=2, stride=2)` raised TypeError (multiple values for 'kernel_size'),
`nn.Linear(x)` TypeError, `nn.LayerNorm(x)` RuntimeError (std::bad_cast), `nn.Dropout(x)`
and `nn.Conv2d(x, 4, 3)` ValueError (only length-1 arrays can be converted). Failure corpus
fresh328 `hedgerow_darknet_pool` (koogle/mlx-playground a26483d, a YOLO backbone) pooled its
feature map with `x = nn.MaxPool2d(x, kernel_size=pool_size, stride=pool_size)` in
`__call__`: TypeError at step 1; a pooling layer built in `__init__` trained.

Job: calls resolving to one of `mlx.nn`'s layer classes (`mlx_api`, capitalised, not
`Module`) with an argument, by position or keyword, that is an array: an MLX array as
`dataflow` follows it, or the input of a module class's `__call__` (its first parameter
after `self`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import arrays_in, is_array, module_classes
from ..finding import Finding
from ..mlx_api import MODULES
from ..source import SourceFile
from .base import AnchoredRule

LAYERS = frozenset(n for n in MODULES["mlx.nn"] if n[:1].isupper() and n != "Module")
SHORT = tuple(sorted(f"{n}(" for n in LAYERS))


def layer_class(source: SourceFile, call: ast.Call) -> bool:
    """The call builds one of `mlx.nn`'s layers (`nn.MaxPool2d(...)`)."""
    name = source.imports.resolve(call.func) or ""
    parts = name.split(".")
    return parts[:2] == ["mlx", "nn"] and parts[-1] in LAYERS and "losses" not in parts


def forward_input(source: SourceFile, function: ast.AST | None) -> str | None:
    """The first parameter after `self` of a module class's `__call__`."""
    if not isinstance(function, ast.FunctionDef) or function.name != "__call__":
        return None
    if not any(function in c.body for c in module_classes(source)):
        return None
    params = function.args.posonlyargs + function.args.args
    return params[1].arg if len(params) > 1 else None


def given_array(source: SourceFile, call: ast.Call) -> bool:
    """Some argument of the call is an array (or the enclosing forward pass's input)."""
    function = source.enclosing(call)
    arrays = set(arrays_in(source, function or source.tree))
    given = forward_input(source, function)
    if given is not None and not _rebound(function, given):
        arrays.add(given)
    values = [*call.args, *(k.value for k in call.keywords)]
    return any(not isinstance(v, ast.Starred) and is_array(source, v, arrays) for v in values)


def _rebound(function: ast.AST, name: str) -> bool:
    """The forward pass binds its input to something that need not be an array: anything
    but a call, arithmetic or a slice (`x = x.shape[1]`, `x = len(x)` is a call: left in)."""
    kept = (ast.Call, ast.BinOp, ast.UnaryOp, ast.Subscript)
    return any(isinstance(t, ast.Name) and t.id == name and not isinstance(n.value, kept)
               for n in ast.walk(function) if isinstance(n, ast.Assign) for t in n.targets)


class LayerOnArray(AnchoredRule):
    """MLX274: `x = nn.MaxPool2d(x, kernel_size=2)`: a layer class called on the input."""

    id = "MLX274"
    anchors = SHORT
    local = True
    in_methods = True

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if (call.args or call.keywords) and layer_class(source, call) and given_array(
                    source, call):
                yield self.hit(source, call)
