"""MLX004: `for leaf in tree_flatten(tree)` that uses each `(path, array)` pair as an array,
also where the pairs come from a module function passed along as a callable, or from a name
every binding of which is a `tree_flatten(...)` (`flat = tree_flatten(grads)` then `[mx.sum(
mx.square(g)) for g in flat]`: fresh40 `accum_clip_tuple_leaves`, mlx-raclate fa7fd3b, a
`ValueError: Invalid type tuple received in array initialization` at the first update).

Job: read how the loop target of a `tree_flatten` loop or comprehension is used; fire only
when it is used as an array and never as a pair.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..finding import Edit, Finding
from ..flow import body_assignments, body_nodes
from ..names import ARRAY, MLX_CORE, TREE_FLATTEN
from ..partial import around
from ..patterns import at_word
from ..source import SourceFile, descendants
from .base import Rule

ARRAY_ATTRIBUTES = frozenset({"size", "shape", "dtype", "ndim", "nbytes", "astype", "sum",
                              "mean", "square", "reshape", "item", "flatten", "abs", "max",
                              "min", "T"})
ARRAY_OPS = (ast.Mult, ast.Pow, ast.Sub, ast.Div, ast.MatMult)
# `for leaf in tree_flatten(`: a loop or comprehension over the pairs with one plain target.
DIRECT_LOOP = at_word(r"\bfor\s+\w+\s+in\s+(?:\w+\.)*tree_flatten\(")
# A name bound to the pairs: `flat = tree_flatten(grads)` (`flattened`).
BOUND = re.compile(r"\b\w+\s*=\s*(?:\w+\.)*tree_flatten\(")
BOUND_NAME = re.compile(r"\b(\w+)\s*=\s*(?:\w+\.)*tree_flatten\(")


def bound_loops(text: str) -> bool:
    """Some name bound to `tree_flatten(...)` is iterated by a `for` in the text (a prefilter:
    parsing every block that binds one cost 0.15 s of the three packages)."""
    return any(at_word(rf"\bfor\s+\w+\s+in\s+{name}\b").search(text)
               for name in set(BOUND_NAME.findall(text)))


# A function that returns the pairs (`pair_producers`).
PRODUCES = re.compile(r"\b(?:return|yield from)\s+(?:\w+\.)*tree_flatten\(")


def use_of(source: SourceFile, name: ast.Name) -> str:
    """"pair", "array" or "" for one read of the loop target."""
    parent = source.parents.get(name)
    if isinstance(parent, ast.Subscript) and parent.value is name:
        return "pair"
    if isinstance(parent, (ast.Assign, ast.comprehension)) and isinstance(
            getattr(parent, "targets", [getattr(parent, "target", None)])[0], ast.Tuple):
        return "pair"
    if isinstance(parent, ast.Attribute) and parent.attr in ARRAY_ATTRIBUTES:
        return "array"
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ARRAY_OPS):
        return "array"
    if isinstance(parent, ast.Call) and name in parent.args:
        return array_call(source, parent)
    return ""


def array_call(source: SourceFile, call: ast.Call) -> str:
    """`isinstance(x, mx.array)`, `mx.<op>(x)` and `np.<op>(x)` read `x` as an array (a
    NumPy conversion of each leaf: fresh27 `accum_gradnorm_tuple_crash`, mlx_rl_trainer
    3cf0fc84, `np.array(v)` for `v in tree_flatten(grads)[1]` raised ValueError on the
    name string of the pair)."""
    if isinstance(call.func, ast.Name) and call.func.id == "isinstance" and len(call.args) == 2:
        return "array" if source.imports.resolve(call.args[1]) in ARRAY else ""
    resolved = source.imports.resolve(call.func) or ""
    return "array" if resolved.startswith((MLX_CORE + ".", "numpy.")) else ""


def iterations(source: SourceFile) -> Iterator[tuple[ast.AST, list[ast.AST]]]:
    """(loop or comprehension over a call or a name, with a plain-name target; where it is
    read)."""
    for node in source.of_type(ast.For, ast.AsyncFor, ast.comprehension):
        if not (isinstance(node.iter, (ast.Call, ast.Name)) or one_pair(node.iter)) \
                or not isinstance(node.target, ast.Name):
            continue
        if isinstance(node, ast.comprehension):
            scope = [n for n in descendants(source.parents[node]) if n is not node.iter]
        else:
            scope = body_nodes(source, node)
        yield node, scope


def one_pair(node: ast.AST) -> bool:
    """`f(...)[i]`, a constant index into a call's result: over `tree_flatten(...)`, one
    `(path, array)` pair, whose items the loop takes in turn (fresh200 `specdraft_lora_accum`,
    SpecLoRA 356b057: `for g in tree_flatten(grads)[0]` squared the first path string)."""
    return isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call) and \
        isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int)


def flattened(source: SourceFile, loop: ast.AST) -> bool:
    """The loop runs over `tree_flatten(...)`, called in place or through a name that every
    binding in its scope (the enclosing function, else the module) binds to such a call."""
    if isinstance(loop.iter, ast.Call):
        return source.imports.resolve(loop.iter.func) in TREE_FLATTEN
    if one_pair(loop.iter):
        return source.imports.resolve(loop.iter.value.func) in TREE_FLATTEN
    scope = source.enclosing(loop) or source.tree
    values = [v for t, v in body_assignments(source, scope)
              if isinstance(t, ast.Name) and t.id == loop.iter.id]
    return bool(values) and all(isinstance(v, ast.Call) and source.imports.resolve(v.func)
                                in TREE_FLATTEN for v in values)


def used_as_arrays(source: SourceFile, loop: ast.AST, scope: list[ast.AST]) -> bool:
    """The loop target is read as an array somewhere and never as a pair."""
    reads = [n for n in scope if isinstance(n, ast.Name) and n.id == loop.target.id
             and isinstance(n.ctx, ast.Load)]
    uses = {use_of(source, n) for n in reads}
    return "array" in uses and "pair" not in uses


def pair_producers(source: SourceFile) -> dict[str, ast.AST]:
    """Module functions whose every `return` (or `yield from`) is `tree_flatten(...)`: name
    -> the first of them."""
    found = {}
    for name, defs in source.functions.items():
        returns = [n.value for n in body_nodes(source, defs[0])
                   if isinstance(n, (ast.Return, ast.YieldFrom))] if len(defs) == 1 else []
        if returns and all(isinstance(r, ast.Call) and source.imports.resolve(r.func)
                           in TREE_FLATTEN for r in returns):
            found[name] = returns[0]
    return found


def parameter_index(function: ast.AST, name: str) -> int | None:
    names = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    return names.index(name) if name in names else None


def passed_producers(source: SourceFile, function: ast.AST, param: str,
                     producers: dict[str, ast.AST], depth: int = 0) -> set[str]:
    """Pair producers that reach `function`'s parameter `param` through its call sites."""
    index, found = parameter_index(function, param), set()
    if index is None or depth > 3:
        return found
    for call in source.of_type(ast.Call):
        if not (isinstance(call.func, ast.Name) and call.func.id == function.name):
            continue
        given = call.args[index] if index < len(call.args) else next(
            (k.value for k in call.keywords if k.arg == param), None)
        if not isinstance(given, ast.Name):
            continue
        if given.id in producers:
            found.add(given.id)
        elif (caller := source.enclosing(call)) is not None:
            found |= passed_producers(source, caller, given.id, producers, depth + 1)
    return found


class TreeFlattenPairs(Rule):
    """MLX004: the pairs of `tree_flatten` used as arrays (`isinstance`, `.size`, `p * p`),
    iterated directly or through a module function that returns them, passed as a callable."""

    id = "MLX004"
    anchors = ("tree_flatten",)
    local = True  # reads the loops over pairs, the functions returning them, their callers

    @staticmethod
    def may_fire(text: str) -> bool:
        return "tree_flatten" in text

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """Blocks that loop over the pairs with one plain target; when a function returns
        the pairs, also every block that flattens or names what a flattening block defines
        (a producer's callers), and every block they call (a function handed a producer)."""
        if PRODUCES.search(text) is None:
            if not bound_loops(text):
                return lambda block: DIRECT_LOOP.search(block) is not None
            return lambda block: DIRECT_LOOP.search(block) is not None or (
                BOUND.search(block) is not None and "for " in block)
        return around(text, lambda b: "tree_flatten" in b).__contains__

    def check(self, source: SourceFile) -> Iterator[Finding]:
        producers = pair_producers(source)
        reported: set[str] = set()
        for loop, scope in iterations(source):
            if not used_as_arrays(source, loop, scope):
                continue
            if flattened(source, loop):
                edit = None if one_pair(loop.iter) else self._edit(loop, scope)
                yield self.hit(source, loop.target, edit)
            if not isinstance(loop.iter, ast.Call):
                continue
            for name in self._producers(source, loop, producers) - reported:
                reported.add(name)
                yield self.hit(source, producers[name])

    def _producers(self, source: SourceFile, loop: ast.AST,
                   producers: dict[str, ast.AST]) -> set[str]:
        """Producers iterated here: `for x in producer(t)`, or `for x in leaves(t)` with
        `leaves` a parameter some call site fills with a producer."""
        callee = loop.iter.func
        if not isinstance(callee, ast.Name):
            return set()
        if callee.id in producers:
            return {callee.id}
        function = source.enclosing(loop)
        return set() if function is None else passed_producers(source, function, callee.id,
                                                               producers)

    def _edit(self, loop: ast.AST, scope: list[ast.AST]) -> Edit | None:
        """`for p in` -> `for _, p in`, unless `_` is already used there."""
        if any(isinstance(n, ast.Name) and n.id == "_" for n in scope):
            return None
        target = loop.target
        return Edit(target.lineno, target.col_offset, target.end_lineno,
                    target.end_col_offset, f"_, {target.id}")
