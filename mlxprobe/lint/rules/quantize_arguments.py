"""MLX182: a call to `mx.dequantize`/`mx.quantize` whose arguments do not say what the
weights were quantized with: a positional argument named like another parameter of the
function, in the wrong place (`mx.dequantize(w, layer.group_size, layer.bits)`: `group_size`
lands where `scales` goes: TypeError), or no `mode=` where the module quantizes with a mode
other than the default affine one (`nn.quantize(..., mode="mxfp4")`, then
`mx.dequantize(w, scales, biases, group_size, bits)`: affine is assumed, and with no biases
it raises; fusing writes wrong weights back).

Measured (mlx 0.32.4 CPU, failure corpus fresh133): `qlora_fuse_dequant_args` (mzbac/mlx-lora
36a4ac7): `mx.dequantize(weight, group_size, bits)` raised TypeError incompatible function
arguments; `brinewell_mxfp4_lora_fuse` (ml-explore/mlx-lm PR 647): an mxfp4-quantized layer
dequantized without `mode=` raised `[dequantize] Biases must be provided for affine
quantization`. Their fixed twins pass each argument by its name and forward `mode=`.

Job: each `mlx.core.dequantize` / `mlx.core.quantize` call; the mode test only in a module
that names a non-affine mode literal (`"mxfp4"`, `"mxfp8"`, `"nvfp4"`), never reads a
layer's `.mode` and passes a mode to none of these calls (a module that passes one where it
means it, mlx-vlm's `ple_storage`, keeps its affine calls).

Only the blocks that say `quantize(` are parsed (`local`): the calls lie there, and the mode
test reads the whole text (44 files of the three packages parsed whole for this rule alone
before, 0.57 MB).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

PARAMETERS = {"mlx.core.dequantize": ("w", "scales", "biases", "group_size", "bits", "mode"),
              "mlx.core.quantize": ("w", "group_size", "bits", "mode")}
MODES = ("mxfp4", "mxfp8", "nvfp4")


def named(node: ast.AST) -> str | None:
    """The name an argument reads: `group_size`, `layer.group_size`, `layer.get("biases")`."""
    if type(node) is ast.Name:
        return node.id
    if type(node) is ast.Attribute:
        return node.attr
    if type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr == "get" \
            and node.args and type(node.args[0]) is ast.Constant:
        return str(node.args[0].value)
    return None


def misplaced(call: ast.Call, parameters: tuple[str, ...]) -> bool:
    """A positional argument named like a parameter of another position."""
    return any((name := named(a)) in parameters and parameters.index(name) != i
               for i, a in enumerate(call.args[:len(parameters)]))


def mode_dropped(call: ast.Call, parameters: tuple[str, ...]) -> bool:
    return len(call.args) < len(parameters) and not any(
        k.arg in ("mode", None) for k in call.keywords)


class QuantizeArguments(Rule):
    """MLX182: `mx.dequantize(w, group_size, bits)`, or no `mode=` beside an mxfp4 model."""

    id = "MLX182"
    anchors = ("quantize(",)
    local = True  # its calls lie in the blocks that say `quantize(`; the mode test reads text

    @staticmethod
    def may_fire(text: str) -> bool:
        return "dequantize(" in text or "mx.quantize(" in text

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool] | None:
        """Every block that may call `mx.quantize`/`mx.dequantize` under any spelling (the
        mode test asks all of them whether one passes a mode)."""
        return lambda block: "quantize(" in block

    def check(self, source: SourceFile) -> Iterator[Finding]:
        calls = [(c, p) for c in source.of_type(ast.Call)
                 if (p := PARAMETERS.get(source.imports.resolve(c.func) or ""))]
        modes = any(f'"{m}"' in source.text or f"'{m}'" in source.text for m in MODES) \
            and ".mode" not in source.text and all(mode_dropped(c, p) for c, p in calls)
        for call, parameters in calls:
            if misplaced(call, parameters) or modes:
                yield self.hit(source, call)
