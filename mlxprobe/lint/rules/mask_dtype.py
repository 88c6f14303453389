"""MLX120: an additive attention mask built in float32 (`nn.MultiHeadAttention
.create_additive_causal_mask(L)` without `dtype=`, or the module's own builder returning
`mask * -1e9` or `-inf` with no dtype or cast in it, or with a `dtype` parameter that defaults
to float32 and is not passed), in a program that makes float16 or bfloat16 arrays
and calls `mx.fast.scaled_dot_product_attention`: the fused kernel requires the mask to
promote to the output type, and float32 does not promote to a half type, so the first
forward pass in half precision raises.

Measured (mlx 0.32.4 CPU): `mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0,
mask=m)` with bfloat16 q, k, v and a float32 additive mask raises `ValueError:
[scaled_dot_product_attention] Mask type must promote to output type bfloat16.`; with
`m.astype(q.dtype)` it runs. Failure corpus fresh24 `fp32_causal_mask_half_attn_c24` (a
llama-style LM trained in bfloat16: crashed at its first step; the fix builds the mask in the
activations' dtype with `mx.finfo(dtype).min`).

A mask selected between two Python numbers, `mx.where(keep, 0.0, -1e9)`, is float32 too
(fresh38 `bf16_padmask_sdpa_dtype`, mini-llm's fix: a key-padding mask in a model cast with
`set_dtype(mx.bfloat16)`, the same ValueError at the first step; cast to `q.dtype` it
trained); that one is read only where it is the fused attention's `mask=` in the function.

A half dtype named only in copies written to disk does not count (`bfloat16_numpy.
makes_kept`: fresh274 `belfry_shard_handoff`, correct, publishes bfloat16 safetensors shards
of a float32 model and casts them back to float32 on load).

Job: find such mask bindings that the function never casts.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import function_of
from ..finding import Finding
from ..flow import body_assignments, walk
from ..source import SourceFile
from .base import Rule
from .bfloat16_numpy import makes_kept

SDPA = "mlx.core.fast.scaled_dot_product_attention"
WHERE = "mlx.core.where"
HALF = frozenset({"mlx.core.float16", "mlx.core.bfloat16"})
BUILDER = "create_additive_causal_mask"
NEGATIVE_INFINITY = re.compile(r"float\('-inf'\)|-float\('inf'\)|-[\w.]+\.inf")
LARGE_NEGATIVE = re.compile(r"-\s*\d+(?:\.\d*)?[eE]\+?\d|-\s*\d{5,}")


def float32_builder(source: SourceFile, call: ast.Call) -> bool:
    """MLX's causal-mask builder without `dtype=`, or the module's own function that scales
    by a large negative constant and never names a dtype."""
    if any(k.arg == "dtype" for k in call.keywords) or len(call.args) > 1:
        return False
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(
        call.func, "id", "")
    function = function_of(source, call.func)
    if function is None or isinstance(function, ast.Lambda):
        return name == BUILDER and source.imports.resolve(call.func) is not None
    nodes = list(walk(function.body))
    if not any(large_negative(n) or negative_infinity(n) for n in nodes):
        return False
    return float32_default(source, function) or not any(
        isinstance(n, (ast.Attribute, ast.keyword)) and (
            getattr(n, "attr", None) == "astype" or getattr(n, "arg", None) == "dtype")
        for n in nodes)


def float32_default(source: SourceFile, function: ast.AST) -> bool:
    """The builder's `dtype` parameter defaults to float32 (`def mask(n, dtype=mx.float32)`),
    and the call did not pass it (fresh33 `bf16_mask_gpt`: a bfloat16 GPT, its mask helper's
    default float32, 'Mask type must promote to output type bfloat16' at step 1)."""
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    pairs = [*zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults),
             *zip(arguments.kwonlyargs, arguments.kw_defaults)]
    return any(a.arg == "dtype" and d is not None
               and source.imports.resolve(d) == "mlx.core.float32" for a, d in pairs)


def large_negative(node: ast.AST) -> bool:
    """`-1e9`, `-inf`-like: a negated constant of magnitude >= 1e4."""
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(
        node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)) and \
        abs(node.operand.value) >= 1e4


def negative_infinity(node: ast.AST) -> bool:
    """`float("-inf")`, `-float("inf")`, `-math.inf`, `-mx.inf`, `-np.inf`."""
    return isinstance(node, (ast.Call, ast.UnaryOp)) and NEGATIVE_INFINITY.fullmatch(
        ast.unparse(node).lower()) is not None


def where_of_numbers(source: SourceFile, call: ast.Call) -> bool:
    """`mx.where(keep, 0.0, -1e9)`: a mask selected between two Python numbers, one a large
    negative or -inf, is float32 whatever the model's dtype (fresh38
    `bf16_padmask_sdpa_dtype`: a key-padding mask in a bfloat16 model)."""
    if source.imports.resolve(call.func) != WHERE or len(call.args) != 3:
        return False
    values = call.args[1:]
    return all(number(v) for v in values) and any(
        large_negative(v) or negative_infinity(v) for v in values)


def number(node: ast.AST) -> bool:
    """A Python number written in place (`0.0`, `-1e9`, `float("-inf")`)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))) or \
        negative_infinity(node) or NEGATIVE_INFINITY.fullmatch(f"-{ast.unparse(node)}") is not None


def attention_mask(source: SourceFile, scope: ast.AST, name: str) -> bool:
    """`name` is the `mask=` of a fused attention call in the function."""
    return any(isinstance(n, ast.Call) and source.imports.resolve(n.func) == SDPA and any(
        k.arg == "mask" and isinstance(k.value, ast.Name) and k.value.id == name
        for k in n.keywords) for n in walk(scope.body))


def cast_later(source: SourceFile, scope: ast.AST, name: str) -> bool:
    """The function casts `name` somewhere: `name.astype(...)`."""
    return any(isinstance(n, ast.Attribute) and n.attr == "astype" and isinstance(
        n.value, ast.Name) and n.value.id == name for n in walk(scope.body))


class Float32MaskHalfAttention(Rule):
    """MLX120: `mask = create_additive_causal_mask(L)` (float32) in a bfloat16 model that
    calls the fused attention: it raises 'Mask type must promote to output type'."""

    id = "MLX120"
    anchors = ("scaled_dot_product_attention",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "scaled_dot_product_attention" in text and "float16" in text and (
            BUILDER in text or LARGE_NEGATIVE.search(text) is not None)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not makes_kept(source, HALF) or not any(source.imports.resolve(c.func) == SDPA
                                             for c in source.of_type(ast.Call)):
            return
        for scope in source.of_type(ast.FunctionDef, ast.AsyncFunctionDef):
            for target, value in body_assignments(source, scope):
                if isinstance(target, ast.Name) and isinstance(value, ast.Call) and \
                        self._float32(source, scope, target.id, value) and not cast_later(
                            source, scope, target.id):
                    yield self.hit(source, value)

    @staticmethod
    def _float32(source: SourceFile, scope: ast.AST, name: str, value: ast.Call) -> bool:
        """A float32 builder, or a `where` of two numbers given as the attention's mask."""
        return float32_builder(source, value) or (
            where_of_numbers(source, value) and attention_mask(source, scope, name))
