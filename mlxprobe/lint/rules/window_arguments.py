"""MLX243: an MLX convolution or pooling given a window argument that is not positive, as a
literal: a stride, dilation, kernel size or group count of 0 or less (`nn.Conv2d(16, 120,
kernel_size=5, stride=0, padding=1)`, `nn.MaxPool2d(2, 0)`, `mx.conv1d(x, w, 0)`). MLX checks
these only when the layer first runs: the first forward pass raises, inside the training step.

Measured (mlx 0.32.4 CPU): `nn.Conv2d(3, 4, 3, stride=0)` raised "[conv] Stride sizes must be
positive. Got strides (0,0)." at its first call, `dilation=0` "[conv] Kernel dilation sizes
must be positive", a kernel size of 0 and `groups=0` ZeroDivisionError, `nn.MaxPool2d(2,
stride=0)` "'stride' must be positive", `nn.AvgPool2d(0)` "'kernel_size' must be positive",
`nn.ConvTranspose2d(3, 4, 3, stride=0)` "Input dilation sizes must be positive", and a stride
of -1 the same as 0. Failure corpus fresh245 `pinwheel_bakery_lenet` (dlueder/mlx-playground
7bef4e2): a LeNet's third convolution built with `stride=0` raised at the first step.

Job: a call of an `mlx.nn` Conv/ConvTranspose/MaxPool/AvgPool class or of an `mlx.core`
convolution whose stride, dilation, kernel size or groups argument (by keyword or position)
is an int literal <= 0 or a tuple/list holding one. A padding of 0 is valid and never read.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..mlx_positions import POSITIONS
from ..source import SourceFile
from .base import Rule

WINDOW = frozenset({"kernel_size", "stride", "dilation", "groups"})
CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation")
POOL = ("kernel_size", "stride", "padding")
LAYERS: dict[str, tuple[str, ...]] = {
    **{f"mlx.nn.Conv{d}d": (*CONV, "groups") for d in "12"}, "mlx.nn.Conv3d": CONV,
    **{f"mlx.nn.ConvTranspose{d}d": CONV for d in "123"},
    **{f"mlx.nn.{kind}Pool{d}d": POOL for kind in ("Max", "Avg") for d in "123"},
    **{name: params for name, params in POSITIONS.items()
       if name.startswith("mlx.core.conv") and name != "mlx.core.convolve"},
}
CALLED = re.compile(r"(?:Conv(?:Transpose)?[123]d|Pool[123]d|conv(?:_transpose)?[123]d|"
                    r"conv_general)\(")
NOT_POSITIVE = re.compile(r"(?:[(,]|(?:stride|dilation|kernel_size|groups)\s*=)\s*"
                          r"(?:0|-\s*\d+)\s*[,)]")


def not_positive(node: ast.AST) -> bool:
    """An int literal <= 0 (`0`, `-1`), or a tuple/list display holding one (`(1, 0)`)."""
    if isinstance(node, (ast.Tuple, ast.List)):
        return any(not_positive(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant) and type(node.operand.value) is int
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value <= 0


def window_arguments(params: tuple[str, ...], call: ast.Call) -> Iterator[ast.AST]:
    """The call's arguments that fill a stride, dilation, kernel size or groups slot."""
    for name, value in zip(params, call.args):
        if name in WINDOW and not isinstance(value, ast.Starred):
            yield value
    yield from (k.value for k in call.keywords if k.arg in WINDOW)


class WindowNotPositive(Rule):
    """MLX243: `nn.Conv2d(16, 120, kernel_size=5, stride=0, padding=1)`."""

    id = "MLX243"
    anchors = ("Conv", "Pool", "conv")
    local = True  # one call's arguments

    @staticmethod
    def may_fire(text: str) -> bool:
        """A convolution or pooling call with a literal 0 or negative number among the first
        arguments of its text (positionally, or as a window keyword)."""
        return any(NOT_POSITIVE.search(text, m.end() - 1, m.end() + 300)
                   for m in CALLED.finditer(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            params = LAYERS.get(source.imports.resolve(call.func) or "")
            if params and any(not_positive(v) for v in window_arguments(params, call)):
                yield self.hit(source, call)
