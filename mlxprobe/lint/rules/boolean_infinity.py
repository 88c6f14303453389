"""MLX181: a boolean mask multiplied by an infinity (`mask * -math.inf`, mask a comparison):
where the mask is False the product is `0 * inf`, which is NaN in IEEE arithmetic, not 0, so an
additive attention mask built this way is NaN at every position it should leave alone, and
the scores, the softmax, the logits and the loss are NaN from the first forward pass.

Measured (mlx 0.32.4 CPU, failure corpus fresh129 `tramline_stride_lm`, SiLLM 88d2bc3, whose
`create_additive_causal_mask` returned `mask * -math.inf` on a boolean mask): the training
loss and the validation loss were nan at every report; `mask * -1e9` trained (the fix).

Job: a product whose one factor is an infinity (`math.inf`, `mx.inf`, `np.inf`,
`float("inf")`, negated or not) and whose other is a comparison, or a name its function binds
once, to a comparison or to a logical operation of MLX or NumPy.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import local_values
from ..source import SourceFile
from .base import Rule
from .masks import INF

LOGICAL = frozenset(f"{lib}.{op}" for lib in ("mlx.core", "numpy")
                    for op in ("logical_not", "logical_and", "logical_or", "logical_xor"))


def infinite(source: SourceFile, node: ast.AST) -> bool:
    """`math.inf`, `-mx.inf`, `float("-inf")`."""
    if type(node) is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd):
        node = node.operand
    if type(node) is ast.Call and type(node.func) is ast.Name and node.func.id == "float":
        return len(node.args) == 1 and type(node.args[0]) is ast.Constant and str(
            node.args[0].value).strip().lstrip("+-").lower() in ("inf", "infinity")
    return type(node) in (ast.Attribute, ast.Name) and source.imports.resolve(node) in INF


def boolean(source: SourceFile, node: ast.AST, around: ast.AST) -> bool:
    """A comparison, a logical operation, or a name bound once to one of those."""
    if type(node) is ast.Compare:
        return True
    if type(node) is ast.Call:
        return source.imports.resolve(node.func) in LOGICAL
    if type(node) is ast.Name:
        values = local_values(source, around, node)
        return len(values) == 1 and type(values[0]) in (ast.Compare, ast.Call) and boolean(
            source, values[0], around)
    return False


class BooleanTimesInfinity(Rule):
    """MLX181: `mask = linds[:, None] < rinds[None]; return mask * -math.inf`."""

    id = "MLX181"
    anchors = ("inf",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "*" in text and (".inf" in text or "inf'" in text or 'inf"' in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.BinOp):
            if type(node.op) is not ast.Mult:
                continue
            for a, b in ((node.left, node.right), (node.right, node.left)):
                if infinite(source, b) and boolean(source, a, node):
                    yield self.hit(source, node)
                    break
