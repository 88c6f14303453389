"""MLX063: an in-place indexed accumulation with array indices, `agg[idx] += v` or
`agg[idx] = agg[idx] + v`, on an MLX array: as in NumPy, the read, the add and the write are
separate ops, so a repeated index keeps one of its updates (`agg.at[idx].add(v)` sums them).

Job: find the augmented (or spelled-out) indexed update of a local MLX array whose index may
hold many entries: an array the function (or the module's own code, for a script's top-level
loop) computes, or an argument (a loop counter or an integer constant is one entry and cannot
repeat). Failure corpus fresh58 `sparse_rowupdate_dup_ids` (pytensor PR 2242, the same bug in
its MLX backend): a matrix factorisation's top-level loop wrote its row gradients back with
`P[u] -= lr * g_p`, every user id repeated thousands of times in a batch, and its loss crept
0.991 -> 0.932 in 25 epochs where `P.at[u].add(-lr * g_p)` reached 0.062.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import arrays_in, is_array
from ..finding import Finding
from ..names import last_name
from ..source import SourceFile, descendants
from .base import Rule
from .stopping import Trace

ACCUMULATE = (ast.Add, ast.Sub)
# `] += `, `] -= ` or `] = a[...] + ` as written: one literal-led scan (0.012 s over the three
# packages; a test for `] = ` alone let 1,291 of their files through to a full parse)
WRITTEN = re.compile(r"\] (?:[+-]= |= \w+\[[^\]\n]*\] [+-] )")
# Index makers whose entries never repeat: a range, a permutation, the positions of a mask.
UNIQUE = frozenset({"arange", "argsort", "permutation", "where", "nonzero", "flatnonzero",
                    "argwhere", "unique"})
DEPTH = 3  # names followed back through slices


def unique(trace: Trace, value: ast.AST | None, line: int, depth: int) -> bool:
    """`value` is made by an index maker whose entries never repeat, or is a slice of a name
    bound to one (`ids = perm[i:i + b]` after `perm = mx.random.permutation(n)`)."""
    if value is None:
        return False
    if any(isinstance(n, ast.Call) and last_name(n.func) in UNIQUE for n in descendants(value)):
        return True
    return depth > 0 and isinstance(value, ast.Subscript) and isinstance(
        value.value, ast.Name) and unique(trace, trace.binding(value.value.id, line), line,
                                          depth - 1)


def accumulated(node: ast.AST) -> ast.Subscript | None:
    """The target of `a[i] += v`, `a[i] -= v`, or `a[i] = a[i] + v`."""
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ACCUMULATE):
        return node.target if isinstance(node.target, ast.Subscript) else None
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
        return None
    target, value = node.targets[0], node.value
    if (isinstance(target, ast.Subscript) and isinstance(value, ast.BinOp)
            and isinstance(value.op, ACCUMULATE)
            and ast.unparse(value.left) == ast.unparse(target)):
        return target
    return None


def parameters(function: ast.AST) -> set[str]:
    """Arguments not annotated as an integer."""
    args = function.args
    return {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
            if not (isinstance(a.annotation, ast.Name) and a.annotation.id == "int")}


class IndexedAugmentedAssignment(Rule):
    """MLX063: `agg = mx.zeros(...); agg[dst] += m` where `dst` is an array (or an argument
    that may be one): duplicate destinations are written in turn and only one update of each
    survives."""

    id = "MLX063"
    local = True  # reads the enclosing function (or the module's own statements) only
    in_methods = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return WRITTEN.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.AugAssign, ast.Assign):
            target = accumulated(node)
            scope = (source.enclosing(node) or source.tree) if target is not None else None
            if scope is None or isinstance(scope, ast.Lambda):
                continue
            arrays = arrays_in(source, scope)
            params = set() if scope is source.tree else parameters(scope)
            if is_array(source, target.value, arrays) and self._many(
                    source, source.cached("trace", scope, lambda s=scope: Trace(source, s)),
                    target.slice, arrays, params):
                yield self.hit(source, node)

    @staticmethod
    def _many(source: SourceFile, trace: Trace, index: ast.AST, arrays: set[str],
              params: set[str]) -> bool:
        """Some part of the index is an array that may repeat an entry, or an argument that
        may be one; a range, a permutation or a mask's positions cannot repeat."""
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        for part in parts:
            value = trace.binding(part.id, index.lineno) if isinstance(part, ast.Name) else part
            if unique(trace, value, index.lineno, DEPTH):
                continue
            if isinstance(part, ast.Name) and part.id in params or (
                    not isinstance(part, (ast.Constant, ast.Slice))
                    and is_array(source, part, arrays)):
                return True
        return False
