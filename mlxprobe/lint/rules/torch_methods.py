"""MLX196: a PyTorch tensor method called on an MLX array: `x.view(-1, 1)` (MLX's `view`
takes a dtype and reinterprets the bytes; PyTorch's `view(shape)` is `reshape`), `x.size(0)`
or `x.shape(1)` (MLX's `size` and `shape` are properties: an int and a tuple, not callable),
`x.unsqueeze(1)`, `x.permute(...)`, `x.contiguous()`, `x.detach()`, ... (MLX's array has no
such method; nor MXNet's `asnumpy()`). Each raises when the line first runs, often deep in a
forward pass after the data is loaded, and a step wrapped in `try/except` swallows it at every step.

Measured (mlx 0.32.4 CPU): `mx.ones(4).view(-1, 1)` raises `TypeError: view(): incompatible
function arguments` ("1. view(self, dtype: mlx.core.Dtype, ...)"), `mx.ones(4).size(0)`
raises `TypeError: 'int' object is not callable`, `mx.ones(4).unsqueeze(0)` raises
`AttributeError`. Failure corpus fresh182 `ferry_timetable_gcn` (mlx-graphs 264fa5f, "use
reshape instead of view"): a GCN layer's `edge_weight.view(-1, 1) * x_i` raised in the first
forward pass.

Job: `.view(...)` given an int literal (the shape PyTorch takes), `.size(1)` or `.shape(0)`
given one (an axis: `axis_asked`, unless the module defines such a method), or a method of
TORCH given
PyTorch's `dim=` keyword (`h.chunk(2, dim=-1)`: fresh221 `ferry_rotate_nbf`, mlx-graphs
4e6f125, a RotatE message function over a parameter), in a module that imports no torch
(whose tensors have them), whatever the receiver; any other method of TORCH
(absent from `dir(mx.array)`, or one of its properties called) only on a name the dataflow
pass knows holds an MLX array, and not one the function tests with `hasattr` or `isinstance`
(a duck-typed value: mlx-vlm's `_to_mx_array(value)` calls `value.detach()` under `elif
hasattr(value, "detach")`, a torch tensor handed in).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import arrays_in, is_array
from ..finding import Finding
from ..patterns import at_word
from ..source import SourceFile
from .base import Rule

# PyTorch tensor methods that MLX's array lacks, or has as properties (not callable).
PROPERTIES = frozenset({"size", "shape", "ndim", "dtype", "T", "itemsize", "nbytes"})
TORCH = PROPERTIES | frozenset({
    "dim", "unsqueeze", "permute", "contiguous", "detach", "clone", "numpy", "cpu", "cuda",
    "float", "half", "long", "masked_fill", "expand", "expand_as", "repeat", "clamp", "norm",
    "numel", "nelement", "view_as", "fill_", "zero_", "add_", "mul_", "copy_", "backward",
    "requires_grad_", "type_as", "bfloat16", "double", "chunk", "narrow", "index_select",
    "asnumpy", "asscalar"})  # the last two MXNet's (fresh185 sextant_logbook_charlm)
TYPE_TESTS = frozenset({"hasattr", "isinstance"})
ANCHORS = (".view(", *(f".{m}(" for m in sorted(TORCH)))
CALLED = re.compile(rf"\.(?:view|{'|'.join(sorted(TORCH))})\(")


def int_literal(node: ast.AST) -> bool:
    """`1`, `-1`: what PyTorch's `view` takes and MLX's never does."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int


def torch_keyword(call: ast.Call) -> bool:
    """`dim=`: the keyword PyTorch's reductions and splits take, MLX's never (`axis=`)."""
    return any(k.arg == "dim" for k in call.keywords)


def axis_asked(source: SourceFile, call: ast.Call, attr: str) -> bool:
    """`w.size(1)`, `x.shape(0)`: a property of MLX's and NumPy's arrays called with an
    axis, PyTorch's spelling, whatever the receiver, unless the module defines a method of
    that name (fresh301 `kestrel_loom_merge`, mlx-vlm 9f4e8fb: `nn.Linear(updated_weight.
    size(1), updated_weight.size(0))` where `updated_weight = layer.original_layer.weight +
    lora_update`, a sum the dataflow pass does not type)."""
    return attr in PROPERTIES and len(call.args) == 1 and int_literal(call.args[0]) and \
        not call.keywords and at_word(rf"\bdef {attr}\(").search(source.text) is None


def imports_torch(source: SourceFile) -> bool:
    return any(t.split(".")[0] == "torch" for t in source.imports.aliases.values())


class TorchMethodOnArray(Rule):
    """MLX196: `x.view(-1, 1)`, `x.size(0)`, `x.unsqueeze(1)` on an MLX array."""

    id = "MLX196"
    anchors = ANCHORS
    local = True  # reads one call and the function around it
    file_words = "mlx\n"

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mlx" in text and CALLED.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        torch = imports_torch(source)
        for call in source.of_type(ast.Call):
            func = call.func
            if not isinstance(func, ast.Attribute):
                continue
            if not torch and (func.attr == "view" and any(map(int_literal, call.args))
                              or func.attr in TORCH and torch_keyword(call)
                              or axis_asked(source, call, func.attr)):
                yield self.hit(source, call)
            elif func.attr in TORCH and self._on_array(source, func.value):
                yield self.hit(source, call)

    @staticmethod
    def _on_array(source: SourceFile, receiver: ast.AST) -> bool:
        scope = source.enclosing(receiver) or source.tree
        return isinstance(receiver, ast.Name) and is_array(
            source, receiver, arrays_in(source, scope)) and not duck_typed(
            scope, receiver.id)


def duck_typed(scope: ast.AST, name: str) -> bool:
    """The scope asks what `name` holds: `hasattr(name, ...)`, `isinstance(name, ...)`."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
               and n.func.id in TYPE_TESTS and n.args and isinstance(n.args[0], ast.Name)
               and n.args[0].id == name for n in ast.walk(scope))
