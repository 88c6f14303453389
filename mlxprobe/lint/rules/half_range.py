"""MLX123: a constant past float16's range (|c| > 65504: `-1e6`, `-1e9`, `1e5`) made into a
float16 array: `mx.array(c, dtype=mx.float16)`, `mx.full(shape, c, dtype=x.dtype)`,
`mx.where(mask, c, x)` with `x` a value the function cast to float16, or `x * c`, `x + c`
with `x` such a value (an array times a Python number keeps the array's dtype). The cast
gives inf, so a fill or a mask meant to be a large finite number is -inf, and a sanitising
`mx.where(mx.isfinite(x), x, -1e6)` puts back the -inf it meant to remove (then -inf - -inf
is NaN).

Measured (mlx 0.32.4 CPU): `mx.where(m, -1e9, x)` with x float16 gave -inf where m held,
`mx.array(-1e6, dtype=mx.float16)` and `mx.full((2,), -1e5, dtype=mx.float16)` gave -inf;
bfloat16 (float32's range) gave -999424. Failure corpus fresh25
`fp16_logprob_sentinel_overflow` (a GRPO log-prob path cast to float16 whose -1e6 sentinel
was -inf: NaN from the first update; `mx.finfo(lp.dtype).min` fixed it).

Job: follow which names a function casts to float16 (`.astype(mx.float16)`, and names made
from them) and find such constants given to them.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import assigned, body_assignments, names_in, walk
from ..source import SourceFile
from .base import Rule

FLOAT16 = "mlx.core.float16"
HALF_MAX = 65504.0
MAKERS = frozenset({"mlx.core.array", "mlx.core.full"})
WHERE = "mlx.core.where"
# a literal past 65504 in the text: `1e5`..`1e99`, or six digits or more
DIGITS = ("e5", "e6", "e7", "e8", "e9", "e1", "e2", "e3", "E5", "E6", "E7", "E8", "E9", "E1",
          "E2", "E3", "00000")  # a cheap test before BIG
BIG = re.compile(r"\d[eE]\+?(?:[5-9]|[1-9]\d)\b|\b\d{6,}\b")


def constant(node: ast.AST) -> float | None:
    """A number literal, negated or not."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = constant(node.operand)
        return -value if value is not None else None
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and \
            not isinstance(node.value, bool):
        return float(node.value)
    return None


def past_range(node: ast.AST) -> bool:
    value = constant(node)
    return value is not None and abs(value) > HALF_MAX


def half_names(source: SourceFile, scope: ast.AST) -> set[str]:
    """Names the function binds to a float16 cast or to values made from one (cached)."""
    def make() -> set[str]:
        found: set[str] = set()
        for target, value in body_assignments(source, scope):
            if casts_half(source, value) or names_in(value) & found:
                found |= set(assigned(target))
        return found
    return source.cached("half_names", scope, make)


def casts_half(source: SourceFile, node: ast.AST) -> bool:
    """A float16 cast in `node`, or in the body of a lambda it is (`half = lambda t:
    t.astype(mx.float16)`: what `half(...)` returns is float16 too; fresh38
    `fp16_caption_dropout_attn`)."""
    if isinstance(node, ast.Lambda):
        return casts_half(source, node.body)
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "astype" and n.args
               and source.imports.resolve(n.args[0]) == FLOAT16 for n in walk([node]))


def half_dtype(source: SourceFile, node: ast.AST, half: set[str]) -> bool:
    """`mx.float16`, or `x.dtype` of a float16 name."""
    return source.imports.resolve(node) == FLOAT16 or (
        isinstance(node, ast.Attribute) and node.attr == "dtype"
        and isinstance(node.value, ast.Name) and node.value.id in half)


def overflows(source: SourceFile, call: ast.Call, half: set[str]) -> bool:
    name = source.imports.resolve(call.func)
    if name in MAKERS:
        dtype = next((k.value for k in call.keywords if k.arg == "dtype"), None)
        values = call.args[:1] if name == "mlx.core.array" else call.args[1:2]
        return dtype is not None and half_dtype(source, dtype, half) and any(
            past_range(v) for v in values)
    if name == WHERE and len(call.args) == 3:
        a, b = call.args[1], call.args[2]
        return (past_range(a) and isinstance(b, ast.Name) and b.id in half) or (
            past_range(b) and isinstance(a, ast.Name) and a.id in half)
    return False


class HalfRangeConstant(Rule):
    """MLX123: `mx.array(-1e6, dtype=lp.dtype)` with `lp` cast to float16: it is -inf."""

    id = "MLX123"
    anchors = ("float16",)
    local = True  # reads one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "float16" in text and any(d in text for d in DIGITS) and BIG.search(
            text) is not None

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        return lambda block: BIG.search(block) is not None and (
            "float16" in block or "dtype" in block)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        """Only the calls and arithmetic given a literal past 65504 are followed to their
        function's casts."""
        for call in source.of_type(ast.Call):
            if not any(past_range(a) for a in call.args):
                continue
            scope = source.enclosing(call)
            if scope is not None and not isinstance(scope, ast.Lambda) and overflows(
                    source, call, half_names(source, scope)):
                yield self.hit(source, call)
        for node in source.of_type(ast.BinOp):
            if not isinstance(node.op, ARITHMETIC) or not (
                    past_range(node.left) or past_range(node.right)):
                continue
            scope = source.enclosing(node)
            other = node.left if past_range(node.right) else node.right
            if scope is not None and not isinstance(scope, ast.Lambda) and half_operand(
                    source, other, half_names(source, scope)):
                yield self.hit(source, node)


ARITHMETIC = (ast.Mult, ast.Add, ast.Sub)


def half_operand(source: SourceFile, node: ast.AST, half: set[str]) -> bool:
    """A float16 value: a name cast to float16, or an expression holding a cast to float16
    or to a float16 name's dtype (`(1.0 - m.astype(h.dtype)) * -1e9`: an array times a Python
    number keeps the array's dtype, so the product is float16 and -1e9 is -inf; fresh25
    `halfmask_embed`, its attended positions 0 * -inf = NaN)."""
    if isinstance(node, ast.Name):
        return node.id in half
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "astype" and n.args and half_dtype(source, n.args[0], half)
               for n in walk([node]))
