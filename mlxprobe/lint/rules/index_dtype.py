"""MLX227: a value cast to the dtype of integer indices: `(self.scale * z).astype(x.dtype)`
in a layer whose `x` is the token ids it looks up (`self.embedding(x)`, `self.lora_a[x]`).
The ids are integers, so the cast truncates the float value toward 0: a LoRA delta below 1 in
magnitude becomes exactly 0, the adapter's output never reaches the model and its gradient
is 0 (the cast has none), so nothing trains.

Measured (mlx 0.32.4 CPU, failure corpus fresh189 `lora_embed_castdtype`, mlx-examples PR 914,
c93d09b "nits"): a LoRA embedding that added `(scale * z).astype(x.dtype)` to the base lookup
had a gradient norm of 0 at every logged step, loss flat at 98-110 and token accuracy 0.000;
`.astype(y.dtype)`, the base lookup's dtype, fell to 0.0036 with accuracy 1.000.

Job: in one function, `v.astype(X.dtype)` (`v` a product, quotient or matmul, a float value;
a comparison cast to the ids' dtype is an integer mask on purpose) where `X` is a name that the
same function uses as indices: the subscript of `a[X]`, or the argument of a call of
`self.part(X)` for a part the class builds as `nn.Embedding`/`nn.QuantizedEmbedding`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import built_parts, method_of, self_attr
from ..source import SourceFile
from .base import Rule

CAST = re.compile(r"\)\.astype\(\w+\.dtype\)")  # `(...).astype(x.dtype)`: a product cast
EMBEDDINGS = frozenset({"mlx.nn.Embedding", "mlx.nn.QuantizedEmbedding"})
# a product, quotient or matmul: a float value (a comparison cast to the ids' dtype, a mask
# `(ids != pad).astype(ids.dtype)` in mlx-vlm's xlm_roberta, is integer on purpose)
ARITHMETIC = (ast.Mult, ast.Div, ast.MatMult)


class CastToIndexDtype(Rule):
    """MLX227: `(scale * z).astype(x.dtype)` where `x` holds the token ids looked up."""

    id = "MLX227"
    anchors = (".dtype)",)
    local = True  # reads one class

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".dtype)" in text and CAST.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            name = cast_to_dtype_of(call)
            function = source.enclosing(call)
            if name and function is not None and name in indices_in(source, function):
                yield self.hit(source, call)


def cast_to_dtype_of(call: ast.Call) -> str | None:
    """`X` of `v.astype(X.dtype)` where `v` is a product, quotient or matmul (`ARITHMETIC`)."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "astype" and len(call.args) == 1):
        return None
    arg = call.args[0]
    if not (isinstance(arg, ast.Attribute) and arg.attr == "dtype"
            and isinstance(arg.value, ast.Name)):
        return None
    arithmetic = isinstance(func.value, ast.BinOp) and isinstance(func.value.op, ARITHMETIC)
    return arg.value.id if arithmetic else None


def indices_in(source: SourceFile, function: ast.AST) -> set[str]:
    """Names `function` uses as indices: `a[X]`, or `self.emb(X)` for an embedding part."""
    lookups = embedding_parts(source, function)
    found = {n.slice.id for n in ast.walk(function)
             if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Name)}
    return found | {c.args[0].id for c in ast.walk(function)
                    if isinstance(c, ast.Call) and self_attr(c.func) in lookups
                    and len(c.args) == 1 and isinstance(c.args[0], ast.Name)}


def embedding_parts(source: SourceFile, function: ast.AST) -> set[str]:
    """The `self.x` parts the enclosing class's `__init__` builds as an embedding."""
    cls = source.enclosing(function, (ast.ClassDef,))
    init = method_of(cls, "__init__") if cls is not None else None
    return {name for name, call in built_parts(init)
            if source.imports.resolve(call.func) in EMBEDDINGS} if init is not None else set()
