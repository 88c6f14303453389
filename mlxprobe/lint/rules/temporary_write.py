"""MLX192: a write into an index of a temporary array, `out[:, :, e][idx] = v` (or
`x.reshape(n, -1)[i] = v`): in MLX indexing and array methods make a new array, and
`__setitem__` on it rebinds that temporary, never `out`. NumPy and PyTorch return a view
there, so the write lands; in MLX it is lost with no error, and whatever `out` feeds keeps
its old values (its gradient path cut).

Measured (mlx 0.32.4 CPU): `a = mx.zeros((2, 3, 4)); a[:, :, 1][mx.array([0]),
mx.array([2])] = 5.0` leaves `a.sum()` at 0. Failure corpus fresh170 `moe_scatter_copy`
(Mixture-of-Experts-mlx a555fe0, "we weren't selecting the correct experts for the
scatter"): the MoE layer's `routed_output[:, :, e][*expert_indices] = out_e` left the routed
output all zeros, every expert and the router got an exactly zero gradient and the loss stayed
at the predict-zero level (2.03 -> 2.00); scattered into `routed_output[*indices]` it fell to
0.015.

Job: an assignment (plain or augmented) whose target is a subscript of a subscript or of a
method call, where that inner value is an MLX array as the dataflow pass sees it (a list or
dict of arrays is no array: `grads[i][j] = g` writes into the list's own element). Must not
import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import arrays_in, is_array
from ..finding import Finding
from ..source import SourceFile
from .base import Rule

# `][...] =` or `)[...] +=`: an index written on what another index or a call made
WRITTEN = re.compile(r"[\])]\[[^\]\n]*\][ \t]*(?:[-+*/@]|//|\*\*)?=(?!=)")


def _temporary(source: SourceFile, target: ast.AST) -> ast.AST | None:
    """The temporary array an index assignment writes into, if it writes into one."""
    if not isinstance(target, ast.Subscript):
        return None
    inner = target.value
    if not isinstance(inner, (ast.Subscript, ast.Call)):
        return None
    if isinstance(inner, ast.Call) and not isinstance(inner.func, ast.Attribute):
        return None
    scope = source.enclosing(target) or source.tree
    return inner if is_array(source, inner, arrays_in(source, scope)) else None


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        return node.targets
    return [node.target] if isinstance(node, ast.AugAssign) else []


class WriteIntoTemporary(Rule):
    """MLX192: `out[:, :, e][idx] = v`: the write lands in a copy."""

    id = "MLX192"
    anchors = ("=",)
    local = True  # the assignment and the bindings of its function
    file_words = "mlx\n"

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mlx" in text and WRITTEN.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in (*source.of_type(ast.Assign), *source.of_type(ast.AugAssign)):
            for target in _targets(node):
                if _temporary(source, target) is not None:
                    yield self.hit(source, target)
