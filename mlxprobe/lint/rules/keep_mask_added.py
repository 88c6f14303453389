"""MLX256: a 0/1 keep-mask cast to a float dtype and given as `mask=` to
`mx.fast.scaled_dot_product_attention`: a float mask is added to the scores, so the kept keys
get +1 and the padded ones +0, and padding is attended as if it were real. A boolean mask is
applied (False masks out); an additive one holds 0 and a large negative number.

Measured (mlx 0.32.4 CPU, failure corpus fresh121 `review_pad_additive_mask`): a padded-review
classifier passed `attention_mask[:, None, None, :].astype(h.dtype)` (the 0/1 padding mask, the
same one its pooling multiplies the hidden states by); training looked perfect (loss -> 0,
100% padded-batch accuracy) but each review scored alone disagreed with its padded batch; with
`mx.where(mask.astype(mx.bool_), 0.0, -mx.inf)` they agreed.

Job: in one function, a `scaled_dot_product_attention(..., mask=M)` call where `M` (directly
or through one local name) is a cast `X.astype(dtype)` of a name (perhaps indexed or reshaped)
to a dtype that is not `mx.bool_`, and the same name (or a local taken from it by indexing or
reshaping) is also multiplied with another value or summed (`h * m`, `m.sum(...)`) in that
function: the function itself uses it as 0/1 weights, so it is no additive mask. The finding
is on the call.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments
from ..names import last_name
from ..source import FUNCTIONS, SourceFile
from .base import Rule

SDPA = "scaled_dot_product_attention"
SHAPING = frozenset({"reshape", "astype", "transpose", "squeeze"})


class KeepMaskAdded(Rule):
    """MLX256: `sdpa(q, k, v, mask=attention_mask[:, None, None, :].astype(h.dtype))` where
    the function also computes `h * attention_mask[..., None]`."""

    id = "MLX256"
    anchors = (SDPA,)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return SDPA in text and ".astype(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            function = source.enclosing(call)
            if last_name(call.func) != SDPA or not isinstance(function, FUNCTIONS):
                continue
            mask = next((k.value for k in call.keywords if k.arg == "mask"), None)
            base = cast_base(source, function, mask) if mask is not None else None
            if base is not None and weights(source, function, base):
                yield self.hit(source, call)


def root(node: ast.AST) -> str | None:
    """The name under subscripts and shaping calls: `m[:, None].reshape(...)` -> `m`."""
    while True:
        if isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in SHAPING:
            node = node.func.value
        else:
            return node.id if isinstance(node, ast.Name) else None


def cast_base(source: SourceFile, function: ast.AST, mask: ast.AST) -> str | None:
    """The name `X` of a mask written `X[...].astype(float dtype)`, directly or as the one
    value of a local name."""
    if isinstance(mask, ast.Name):
        values = [v for t, v in body_assignments(source, function)
                  if isinstance(t, ast.Name) and t.id == mask.id]
        mask = values[0] if len(values) == 1 else mask
    if not (isinstance(mask, ast.Call) and isinstance(mask.func, ast.Attribute)
            and mask.func.attr == "astype" and len(mask.args) == 1):
        return None
    dtype = mask.args[0]
    if isinstance(dtype, ast.Attribute) and dtype.attr in ("bool_", "bool"):
        return None
    return root(mask.func.value)


def weights(source: SourceFile, function: ast.AST, base: str) -> bool:
    """`base`, or a local taken from it by indexing or reshaping, is multiplied with another
    value or summed in `function`."""
    names = {base} | {t.id for t, v in body_assignments(source, function)
                      if isinstance(t, ast.Name) and root(v) == base and v is not None
                      and not isinstance(v, ast.Name)}
    for node in ast.walk(function):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and (
                root(node.left) in names or root(node.right) in names):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "sum" and root(node.func.value) in names:
            return True
    return False
