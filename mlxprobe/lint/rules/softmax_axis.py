"""MLX202: `mx.softmax(x)` with no axis: MLX's softmax normalises over every element of the
array when no axis is given (PyTorch makes `dim` required; NumPy-style code reads as the last
axis), so on attention scores (batch, heads, queries, keys) each weight is ~1/(B*H*L*L) and
no position reads another; on logits (batch, classes) the whole batch shares one
distribution.

Measured (mlx 0.32.4 CPU, failure corpus fresh186 `mbert_eager_softmax_allaxes`,
modern-bert-mlx 12b248b "fix eager attention implementation"): a masked-token encoder whose
attention took `mx.softmax(attn_weights + attention_mask)` stayed at the chance loss, mlm_loss
3.06 -> 2.78 against ln 16 = 2.773; with `axis=-1`, 0.0026.

Job: calls resolved to `mlx.core.softmax` given one positional argument and no `axis`
keyword (a `*args` or `**kwargs` call is left alone), whose argument is scores of a product,
so at least 2-D: it holds a matrix product (`@`, `mx.matmul`, `mx.einsum`), or a name its
function binds to one (`attn = (q @ k.T) * scale`, then `mx.softmax(attn + mask)`). A
softmax over one row of logits (`mx.softmax(logits[i])`, a policy's action logits) is 1-D
more often than not, and the packages write it so (mlx-vlm's `mx.softmax(values)` over one
question's options): left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, starred
from ..source import SourceFile
from .base import Rule

SOFTMAX = frozenset({"mlx.core.softmax"})
PRODUCTS = frozenset({"mlx.core.matmul", "mlx.core.einsum", "mlx.core.addmm"})


class SoftmaxOverAll(Rule):
    """MLX202: `mx.softmax(scores)`: every element normalised together."""

    id = "MLX202"
    anchors = ("softmax(",)
    local = True  # reads one call

    @staticmethod
    def may_fire(text: str) -> bool:
        return "softmax(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) in SOFTMAX and len(call.args) == 1 \
                    and not starred(call) and not any(k.arg == "axis" for k in call.keywords) \
                    and product_scores(source, call):
                yield self.hit(source, call)


def product_scores(source: SourceFile, call: ast.Call) -> bool:
    """The softmax's argument holds a matrix product, or a name bound to one in its scope."""
    argument = call.args[0]
    if holds_product(source, argument):
        return True
    scope = source.enclosing(call) or source.tree
    names = {n.id for n in ast.walk(argument) if isinstance(n, ast.Name)}
    return any(isinstance(t, ast.Name) and t.id in names and holds_product(source, v)
               for t, v in body_assignments(source, scope))


def holds_product(source: SourceFile, node: ast.AST) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult) or isinstance(
        n, ast.Call) and source.imports.resolve(n.func) in PRODUCTS for n in ast.walk(node))
