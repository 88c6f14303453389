"""MLX151: an image batch permuted to channels-first (`x.transpose(0, 3, 1, 2)`, NHWC ->
NCHW, PyTorch's layout) and then given to an `nn.Conv2d`: MLX's convolutions take channels
last (N, H, W, C), so the layer reads the image's width as its channels and fails on the
first forward pass, or, where the sizes happen to agree, convolves the wrong axes.

Measured (mlx 0.32.4 CPU, failure corpus fresh46 `stripes_convnet_channels_first`, from
fastmlx c005a01): a CNN that transposed its (64, 16, 16, 3) batch to (64, 3, 16, 16) before
`nn.Conv2d(3, 16, 3)` raised "[conv] Expect the input channels in the input and weight array
to match" at the first step; without the transpose it trained to val_acc 1.0. MLX009 is the
same mistake for `nn.Conv1d`.

Job: in a method of a module class that holds an `nn.Conv2d`, a name bound to a transpose
with the axes (0, 3, 1, 2) (`mx.transpose(x, (0, 3, 1, 2))` or `x.transpose(0, 3, 1, 2)`)
and then passed to one of the class's Conv2d layers.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, body_nodes
from ..names import dotted
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .layers import layers

CONV2D = frozenset({"mlx.nn.Conv2d"})
NCHW = (0, 3, 1, 2)


def to_channels_first(source: SourceFile, value: ast.AST) -> bool:
    """`mx.transpose(x, (0, 3, 1, 2))` or `x.transpose(0, 3, 1, 2)` / `((0, 3, 1, 2))`."""
    if not isinstance(value, ast.Call):
        return False
    args = value.args
    if source.imports.resolve(value.func) == "mlx.core.transpose":
        args = args[1:]
    elif not (isinstance(value.func, ast.Attribute) and value.func.attr == "transpose"):
        return False
    axes = args[0].elts if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)) \
        else args
    return tuple(a.value if isinstance(a, ast.Constant) else None for a in axes) == NCHW


def conv_methods(source: SourceFile) -> Iterator[tuple[ast.AST, set[str]]]:
    """Each method of a class holding `nn.Conv2d` layers, with those layers' attribute names."""
    for cls in source.of_type(ast.ClassDef):
        convs = layers(source, cls, CONV2D)
        for method in (n for n in cls.body if isinstance(n, FUNCTIONS)) if convs else ():
            yield method, convs


class ChannelsFirstConv2d(Rule):
    """MLX151: `x = mx.transpose(x, (0, 3, 1, 2)); self.conv1(x)` with an nn.Conv2d."""

    id = "MLX151"
    anchors = ("Conv2d",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "Conv2d" in text and "transpose" in text and "3, 1, 2" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for method, convs in conv_methods(source):
            yield from self._method(source, method, convs)

    def _method(self, source: SourceFile, method: ast.AST,
                convs: set[str]) -> Iterator[Finding]:
        bound = [(t.id, v) for t, v in body_assignments(source, method)
                 if isinstance(t, ast.Name)]
        for call in (n for n in body_nodes(source, method) if isinstance(n, ast.Call)):
            parts = dotted(call.func)
            if not (parts and parts[:1] == ["self"] and parts[-1] in convs and call.args
                    and isinstance(call.args[0], ast.Name)):
                continue
            before = [v for name, v in bound
                      if name == call.args[0].id and v.lineno < call.lineno]
            if before and to_channels_first(source, max(before, key=lambda v: v.lineno)):
                yield self.hit(source, call)  # the binding in effect at the call
