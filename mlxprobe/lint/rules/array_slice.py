"""MLX171: an MLX array sliced with an MLX array as a bound (`series[s : s + n]` where `s =
offsets[b]` and `offsets` came from `mx.random.randint`): MLX's slices take Python integers
only and raise "Slice indices must be integers or None" (NumPy and lists take a 0-d array
through `__index__`, so a loop ported from them breaks at its first batch).

Measured (mlx 0.32.4 CPU, failure corpus fresh61 `window_crop_array_bounds`, pytensor PR
2240, the same fix in its MLX backend): window offsets drawn with `mx.random.randint`,
handed through `nn.value_and_grad` to a loss that crops `series[s : s + CONTEXT]` with `s =
offsets[b]`: ValueError at the first step; `s = int(offsets[b])` trains.

Job: in each function, the names that hold arrays, counting the parameters some caller in
the module hands an array (a direct call, or a call of a name bound to `mx.compile`,
`mx.value_and_grad` or `nn.value_and_grad` of it, followed back two callers) and the names a
loop or a comprehension binds to an array's elements; a slice of an array whose lower or
upper bound is such an array is the finding.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..bindings_text import bound_at
from ..dataflow import arrays_in, grow, is_array, transformed
from ..finding import Finding
from ..flow import body_assignments, body_nodes, bound_arguments, calls_by_name
from ..source import FUNCTIONS, SourceFile
from .base import Rule

# a slice's lower bound that is a name, or a sum or difference led by one: `x[s : s + n]`
LOWER = re.compile(r"\[([A-Za-z_]\w*)\s*(?:[+\-][^:\]\n]*)?:")
# ... that some line binds to an mlx.core call or to an element of something: `s = offsets[b]`
PICKED = re.compile(r"\s*=\s*(?:mx\.|(?![\w.]*shape\[)[\w.]+\[)")  # not `x.shape[-1]`
DEPTH = 2  # callers followed back


def callers(source: SourceFile, function: ast.AST) -> list[ast.Call]:
    """The calls of `function` in the module: by its name, or by a name bound to its
    compiled or differentiated version (which takes the same arguments: `nn.value_and_grad
    (model, f)`'s result takes the model first, as `f` does)."""
    names = {function.name} | {n for n, (_, f) in transformed(source).items() if f is function}
    by_name = calls_by_name(source)
    return [c for name in names for c in by_name.get(name, [])]


def array_parameters(source: SourceFile, function: ast.AST, depth: int = DEPTH) -> set[str]:
    """The parameters of `function` that some caller hands an array (the slice raises on
    that caller's path: fresh61's loss is called with a list of offsets for validation,
    which slices fine, and with `mx.random.randint`'s array in training)."""
    key = ("array_parameters", function)
    if key in source.cache:
        return source.cache[key]
    source.cache[key] = set()  # a recursive call gives nothing
    found: set[str] = set()
    for call in callers(source, function):
        scope = source.enclosing(call) or source.tree
        held = arrays(source, scope, depth - 1) if depth > 0 else arrays_in(source, scope)
        given = {p for p, v in bound_arguments(function, call).items()
                 if v is not None and is_array(source, v, held)}
        found |= given
    source.cache[key] = found
    return source.cache[key]


def arrays(source: SourceFile, scope: ast.AST, depth: int = DEPTH) -> set[str]:
    """`arrays_in`, with the parameters its callers hand arrays and what the body binds to
    them (`s = offsets[b]`)."""
    if not isinstance(scope, FUNCTIONS):
        return arrays_in(source, scope)
    key = ("slice_arrays", scope)
    if key not in source.cache:
        found = set(arrays_in(source, scope)) | array_parameters(source, scope, depth)
        grow(source, body_assignments(source, scope), found)
        found |= elements(source, scope, found)
        source.cache[key] = found
    return source.cache[key]


def elements(source: SourceFile, scope: ast.AST, found: set[str]) -> set[str]:
    """Names a `for` loop or a comprehension binds to the elements of an array: each is a
    0-d array (fresh317 `lantern_wick_charlm`, tinyllm 316eaa4: `idx = mx.random.randint(
    ...)`, then `data[i:i+ctx_len] for i in idx` raised ValueError at the first batch)."""
    loops = [n for n in body_nodes(source, scope) if isinstance(n, (ast.For, ast.comprehension))]
    return {n.target.id for n in loops
            if isinstance(n.target, ast.Name) and is_array(source, n.iter, found)}


def _picked(text: str, name: str) -> bool:
    """Some line binds `name` (not an attribute's) as `PICKED` says."""
    return any(not (at and (text[at - 1].isalnum() or text[at - 1] in "_."))
               and PICKED.match(text, at + len(name)) for at, _ in bound_at(text, name))


def _iterated(text: str, name: str) -> bool:
    """Some loop or comprehension binds `name` to the elements of something not a `range`,
    `enumerate` or `zip` (`for i in idx`)."""
    return re.search(rf"\bfor\s+{re.escape(name)}\s+in\s+(?!range\(|enumerate\(|zip\()",
                     text) is not None


class ArraySliceBound(Rule):
    """MLX171: `series[s : s + n]` with `s` an element of an MLX array."""

    id = "MLX171"
    anchors = ("mx.",)
    local = False  # follows callers across the module

    @staticmethod
    def may_fire(text: str) -> bool:
        """A slice led by a name (`LOWER`) that some line binds to `mx.` or to an element
        (`PICKED`): a text test, found by `str.find` (slices of names are in most model
        files; the first test, any named bound, had 337 of the three packages' files parsed
        whole for this rule alone and cost 0.6 s)."""
        if "mx." not in text:
            return False
        return any(_picked(text, name) or _iterated(text, name)
                   for name in set(LOWER.findall(text)))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Subscript):
            if not isinstance(node.slice, ast.Slice):
                continue
            bounds = [b for b in (node.slice.lower, node.slice.upper)
                      if b is not None and not isinstance(b, ast.Constant)]
            if not bounds:
                continue
            scope = source.enclosing(node) or source.tree
            found = arrays(source, scope)
            if is_array(source, node.value, found) and any(
                    is_array(source, b, found) for b in bounds):
                yield self.hit(source, node)
