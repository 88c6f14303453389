"""MLX091: `mx.value_and_grad(f)` differentiates f's first argument, and f uses that
argument only as an index (`emb[tokens]`): the gradient is taken with respect to integer ids,
not the parameters.

Job: `mx.grad`/`mx.value_and_grad` differentiate `argnums=0` unless told otherwise. A
functional training loop that puts the data first and the parameters last (`loss_fn(tokens,
targets, params)`) gets the gradient of the token ids (zeros, shaped like them) and hands it
to the optimizer; nothing trains. Fires where the transformed function is the module's own,
no `argnums`/`argnames` is given, and every read of its first parameter sits inside the
index of a subscript (`table[tokens]`, `x[:, ids]`). Measured (mlx 0.32.4 CPU, failure corpus
fresh6 `functional_grad_wrt_token_ids`): loss 1.48 -> 1.45 over 600 AdamW steps; with
`argnums=2` it trains.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile, descendants
from .base import DIFFERENTIATES, Rule

TRANSFORMS = frozenset({"mlx.core.value_and_grad", "mlx.core.grad"})


def index_only(source: SourceFile, function: ast.AST, name: str) -> bool:
    """Every read of `name` in the function is inside a subscript's index."""
    reads = [n for n in descendants(function) if isinstance(n, ast.Name) and n.id == name
             and isinstance(n.ctx, ast.Load)]
    return bool(reads) and all(in_index(source, n) for n in reads)


def in_index(source: SourceFile, node: ast.AST) -> bool:
    child, parent = node, source.parents.get(node)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Subscript) and child is parent.slice:
            return True
        child, parent = parent, source.parents.get(parent)
    return False


class GradOfIndices(Rule):
    """MLX091: `mx.value_and_grad(loss_fn)` with `loss_fn(tokens, targets, params)`."""

    id = "MLX091"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and "argnums" not in text and "argnames" not in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in TRANSFORMS or call.keywords \
                    or len(call.args) != 1 or not isinstance(call.args[0], ast.Name):
                continue
            function = source.local_function(call.args[0].id)
            names = [a.arg for a in getattr(getattr(function, "args", None), "args", [])]
            if len(names) >= 2 and index_only(source, function, names[0]):
                yield self.hit(source, call)
