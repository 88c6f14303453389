"""MLX220: a function of `mlx.core` called with more arguments by position than its
signature takes: the call raises TypeError ("incompatible function arguments"). The common
spelling is PyTorch's: `torch.transpose(x, -1, 0)` swaps two axes one by one, where
`mx.transpose(a, axes)` takes the whole permutation as one sequence.

Measured (mlx 0.32.4 CPU, failure corpus fresh215 `inkling_pixel_fit`, nerf_meets_mlx
55e886c replaced the call with `mx.moveaxis`): an image-fitting script moved an H x W x C
image's channels first with `mx.transpose(img_gt, -1, 0)` and died before its first step
with "transpose(): incompatible function arguments ... Invoked with types: mlx.core.array,
int, int"; with `mx.moveaxis(img_gt, -1, 0)` the coordinate MLP reached 40.2 dB PSNR.

Job: calls that resolve to a function of `mlx_positions.POSITIONS` (mlx 0.32.4's positional
parameters, from its nanobind signatures; not one of its `VARIADIC` ones, `mx.eval(*args)`),
with no `*args` at the call, given more positional arguments
than that tuple holds. The text test looks for a one-line `mx.f(...)` call whose arguments
(one level of brackets inside them) outnumber the signature's; the check reads every call.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..mlx_positions import POSITIONS, VARIADIC
from ..source import SourceFile
from .base import Rule

PREFIX = "mlx.core."
# `mx.f(` and its arguments on one line, with one level of brackets inside them
ONE_LINE = re.compile(r"mx\.([\w.]+)\(((?:[^()\n]|\([^()\n]*\))*,(?:[^()\n]|\([^()\n]*\))*)\)")
INNER = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


def overfull_in_text(text: str) -> bool:
    """A one-line `mx.f(a, b, c)` with more plain arguments than `f` takes by position."""
    for found in ONE_LINE.finditer(text):
        slots = _slots(PREFIX + found[1])
        given = [a for a in INNER.sub("", found[2]).split(",") if a.strip() and "=" not in a]
        if slots is not None and "*" not in found[2] and len(given) > len(slots):
            return True
    return False


class ExtraPositional(Rule):
    """MLX220: `mx.transpose(img, -1, 0)`: two axes where one sequence goes."""

    id = "MLX220"
    anchors = ("mx.",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return overfull_in_text(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            name = source.imports.resolve(call.func) or ""
            slots = _slots(name) if name.startswith(PREFIX) else None
            if slots is not None and len(call.args) > len(slots) and not any(
                    isinstance(a, ast.Starred) for a in call.args):
                yield self.hit(source, call)


def _slots(name: str) -> tuple[str, ...] | None:
    """`name`'s positional parameters; None for a function it does not know or that takes
    any number of them (`mx.eval(*args)`)."""
    return None if name in VARIADIC else POSITIONS.get(name)
