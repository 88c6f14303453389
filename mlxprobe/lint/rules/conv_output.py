"""MLX194: the output of an `nn.Conv2d` flattened as if it were channels-first (PyTorch's
NCHW): `x.reshape(x.shape[0], x.shape[1], -1)` or `x.flatten(2)` right after `x =
self.proj(x)`. MLX's convolutions return channels last, (N, H, W, C): that reshape gives
(N, H, W * C), each "token" a row of the image with its channels mixed in, and the
transpose PyTorch's patch embedding does after it makes the height the feature axis.

Measured (mlx 0.32.4 CPU, failure corpus fresh174 `quadrant_vit_patchembed`, from
ml_framework_benchmarking c09ade8): a ViT whose PatchEmbed did `x.reshape(B, x.shape[1],
-1).transpose(0, 2, 1)` after its patch Conv2d raised "[broadcast_shapes] Shapes (1,1,48) and
(64,1,4)" at the first forward pass (the tokens' last axis was H/P = 4, not the embedding's
48); `B, H, W, D = x.shape; x.reshape(B, H * W, D)` trained to 100% accuracy.

Job: in a method of a module class holding an `nn.Conv2d`, a name bound to a call of one of
those layers (directly, or as the one argument of an activation), then, before it is bound
again, a `.reshape(...)` of it with three parts of which the second is its own
`.shape[1]` and the third -1, or a `.flatten(2)` / `mx.flatten(x, 2)` of it.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, body_nodes
from ..names import dotted
from ..source import SourceFile
from .base import Rule
from .channels_first import conv_methods


def _conv_output(value: ast.AST, convs: set[str]) -> bool:
    """`self.proj(x)`, or `nn.relu(self.proj(x))`."""
    return _conv_call(value, convs) or (isinstance(value, ast.Call) and len(value.args) == 1
                                        and _conv_call(value.args[0], convs))


def _conv_call(value: ast.AST, convs: set[str]) -> bool:
    parts = dotted(value.func) if isinstance(value, ast.Call) else None
    return bool(parts) and len(parts) == 2 and parts[0] == "self" and parts[1] in convs


def _shape_one(node: ast.AST, name: str) -> bool:
    """`<name>.shape[1]`."""
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and node.slice.value == 1 and isinstance(node.value, ast.Attribute)
            and node.value.attr == "shape" and isinstance(node.value.value, ast.Name)
            and node.value.value.id == name)


def _minus_one(node: ast.AST) -> bool:
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(
        node.operand, ast.Constant) and node.operand.value == 1


def channels_first_read(source: SourceFile, call: ast.Call, name: str) -> bool:
    """`name.reshape(_, name.shape[1], -1)`, `name.flatten(2)`, `mx.flatten(name, 2)`."""
    func = call.func
    own = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
        func.value.id == name
    args = call.args[0].elts if len(call.args) == 1 and isinstance(
        call.args[0], (ast.Tuple, ast.List)) else call.args
    if own and func.attr == "reshape":
        return len(args) == 3 and _shape_one(args[1], name) and _minus_one(args[2])
    if own and func.attr == "flatten":
        return [ast.unparse(a) for a in call.args] == ["2"]
    return source.imports.resolve(func) == "mlx.core.flatten" and [
        ast.unparse(a) for a in call.args] == [name, "2"]


class ConvOutputChannelsFirst(Rule):
    """MLX194: `x = self.proj(x); x.reshape(x.shape[0], x.shape[1], -1)` with an nn.Conv2d."""

    id = "MLX194"
    anchors = ("Conv2d",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "Conv2d" in text and ("shape[1]" in text or "flatten(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for method, convs in conv_methods(source):
            yield from self._method(source, method, convs)

    def _method(self, source: SourceFile, method: ast.AST,
                convs: set[str]) -> Iterator[Finding]:
        bound = sorted(((t.id, v) for t, v in body_assignments(source, method)
                        if isinstance(t, ast.Name)), key=lambda b: b[1].lineno)
        for call in (n for n in body_nodes(source, method) if isinstance(n, ast.Call)):
            for name in {n.id for n in ast.walk(call) if isinstance(n, ast.Name)}:
                before = [v for bound_name, v in bound
                          if bound_name == name and v.lineno < call.lineno]
                if before and _conv_output(before[-1], convs) and channels_first_read(
                        source, call, name):
                    yield self.hit(source, call)
