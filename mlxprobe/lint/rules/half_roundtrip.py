"""MLX218: a half-precision parameter updated in float32 and cast back to itself in the loop,
with no float32 master copy: each step's update smaller than half a unit in the last place of
the weight (|w|/256 in bfloat16) rounds away, so the weight never moves.

Measured (mlx 0.32.4 CPU, failure corpus fresh208 `kiln_bf16_finetune`, ml-by-hand PR 85):
a bfloat16 regressor fine-tuned by a hand-written float32 Adam at lr 1e-3, each weight read
as `p32 = params[k].astype(mx.float32)`, stepped and written back as
`params[k] = p32.astype(mx.bfloat16)`: the training MSE stayed 0.0622 for 1,200 steps; with
a float32 master copy stepped instead and the bfloat16 weights derived from it, it fell to
0.00026.

Job: in a loop's body (at any depth), `y = T.astype(mx.float32)` and later, in the same
statement list, `T = <reads y>.astype(mx.bfloat16 | mx.float16)`, T the same target text (a
subscript, an attribute or a name) both times.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import names_in, statement_lists
from ..source import LOOPS, SourceFile
from .base import Rule

HALF = frozenset({"mlx.core.bfloat16", "mlx.core.float16"})
FLOAT32 = "mlx.core.float32"


class HalfRoundTrip(Rule):
    """MLX218: `p32 = w[k].astype(mx.float32); ...; w[k] = p32.astype(mx.bfloat16)`."""

    id = "MLX218"
    anchors = (".astype(mx.bfloat16)", ".astype(mx.float16)")
    local = True  # one loop

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".astype(mx.float32)" in text and "for " in text and any(
            a in text for a in HalfRoundTrip.anchors)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for holder, body in statement_lists(source, ("body",)):
            if isinstance(holder, LOOPS) or source.enclosing(holder, LOOPS) is not None:
                yield from (self.hit(source, s) for s in round_trips(source, body))


def round_trips(source: SourceFile, body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of `body` that write a half cast of a float32 copy back to its source."""
    upcast: dict[str, str] = {}  # the float32 copy's name -> the text of what it copies
    for statement in body:
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            continue
        target, value = statement.targets[0], statement.value
        copied = cast_of(source, value, {FLOAT32})
        if isinstance(target, ast.Name) and copied is not None:
            upcast[target.id] = ast.unparse(copied)
            continue
        lowered = cast_of(source, value, HALF)
        if lowered is not None and any(upcast.get(n) == ast.unparse(target)
                                       for n in names_in(lowered)):
            yield statement


def cast_of(source: SourceFile, value: ast.AST, dtypes: frozenset[str] | set[str]
            ) -> ast.AST | None:
    """X of `X.astype(dtype)` for a dtype of `dtypes`, else None."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and \
            value.func.attr == "astype" and len(value.args) == 1 and \
            source.imports.resolve(value.args[0]) in dtypes:
        return value.func.value
    return None
