"""MLX267: a function that writes into its array argument in place and returns it, called as
if it made a new array (`aug = cutout(X, s)`) on an array the caller reads again. On an
`mlx.core.array`, `x[a:b] = v` and `x += v` overwrite the array object itself, so the
caller's `X` changes too: a dataset kept across steps is rewritten at every call.

Measured (mlx 0.32.4 CPU, failure corpus fresh304 `gearbox_hum_cutout_pseudo`, after
keras 7fde639, whose MLX `slice_update` wrote into its input): `xl_aug = cutout(XL, start)`
each step with `cutout` returning `slice_update(x, ...)` that did `inputs[slices] = updates;
return inputs`: the labelled set lost a band of features at every step and test accuracy
stayed at chance; copying first (`inputs = mx.array(inputs)`) trained to the twin's score.
`a = mx.array([1., 2.]); b = f(a)` with `f` writing `x[0] = 5` leaves `a` as [5, 2].

Job: per function of the module, the parameters it writes into (an item assignment `p[...] =
v` with any index, an augmented assignment `p += v`, or handing `p` to a module function
that writes into that parameter), each before any statement that rebinds `p`; of those, the
ones it returns (`return p`, or `return g(p, ...)` where `g` returns its written parameter).
Then each `y = f(A, ...)` binding the result to a name other than `A`, where `A` holds an
MLX array and is read again: later in the same function (or module code), or at the next
pass of a loop around the call that never rebinds `A`. Helpers are followed as deep as they
go (each function read once). A function that writes in place and returns nothing (a cache
update) is not flagged: it does not look like it makes a new array.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import arrays_in
from ..finding import Finding
from ..flow import assigned, body_nodes, bound, bound_arguments, calls, helper_of, walk
from ..source import FUNCTIONS, LOOPS, SourceFile
from .base import Rule
from .mutated_input import rebinds

# a line that writes into a name in place: `x[...] = v`, `x += v`, tried at the start of each
# line that has the write's end (`WRITE_END`, led by a character class: a pattern anchored at
# every line's start tried each position of every file, 0.4-0.6 s of the three packages'
# may_fire against 0.10-0.15 s, measured on a loaded machine)
WRITE = re.compile(r"[ \t]*(\w+)(?:\[[^\n]*\]\s*|\s*[-+*/])= ")
WRITE_END = re.compile(r"[\]+\-*/]\s*= ")
# compound statements: their own line binds nothing the rule follows, except a `for` target
SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return)


def written_names(text: str) -> set[str]:
    """The names lines write into in place (`WRITE` at the start of each line with an end)."""
    starts = {text.rfind("\n", 0, end.start()) + 1 for end in WRITE_END.finditer(text)}
    return {found[1] for start in starts if (found := WRITE.match(text, start))}


def writes(node: ast.AST, name: str) -> bool:
    """`name[...] = v` (any index: the caller hands an array), or `name += v`."""
    if isinstance(node, ast.AugAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name
        for t in node.targets)


def parameters(function: ast.AST) -> list[str]:
    args = function.args
    return [a.arg for a in (*args.posonlyargs, *args.args)]


def statements(source: SourceFile, function: ast.AST) -> list[ast.stmt]:
    """The function's statements in source order (nested ones included)."""
    return sorted((n for n in body_nodes(source, function) if isinstance(n, ast.stmt)),
                  key=lambda n: (n.lineno, n.col_offset))


def handed(source: SourceFile, statement: ast.stmt, name: str) -> bool:
    """`g(name, ...)` in the statement where the module's `g` writes into that parameter."""
    if not isinstance(statement, SIMPLE):
        return False
    for call in calls(walk([statement])):
        helper = helper_of(source, call)
        if helper is None or not isinstance(helper, FUNCTIONS):
            continue
        given = bound_arguments(helper, call)
        if any(isinstance(v, ast.Name) and v.id == name and p in written(source, helper)
               for p, v in given.items()):
            return True
    return False


def written(source: SourceFile, function: ast.AST) -> set[str]:
    """The parameters the function writes into before rebinding them (cached per function;
    a helper met again while it is being read counts as writing nothing, which ends a
    recursion)."""
    key = ("written", function)
    if key in source.cache:
        return source.cache[key]
    source.cache[key] = set()  # a recursive helper writes into nothing
    found: set[str] = set()
    live = set(parameters(function)) - {"self"}
    for statement in statements(source, function):
        for name in sorted(live):
            if writes(statement, name) or handed(source, statement, name):
                found.add(name)
            if name in found or rebinds(statement, name):
                live.discard(name)
    source.cache[key] = found
    return found


def returned(source: SourceFile, function: ast.AST) -> set[str]:
    """The written parameters the function returns: `return p`, `return g(p, ...)` (cached
    per function, recursion-safe as `written` is)."""
    key = ("returned", function)
    if key not in source.cache:
        source.cache[key] = set()  # a recursive helper returns nothing written
        changed = written(source, function)
        source.cache[key] = {n for node in body_nodes(source, function) if isinstance(
            node, ast.Return) and node.value is not None and changed
            for n in changed & returned_names(source, node.value)}
    return source.cache[key]


def returned_names(source: SourceFile, value: ast.AST) -> set[str]:
    """The names whose array the returned expression is: `p`, or `g(p)` returning it."""
    if isinstance(value, ast.Name):
        return {value.id}
    helper = helper_of(source, value) if isinstance(value, ast.Call) else None
    if helper is None or not isinstance(helper, FUNCTIONS):
        return set()
    given = bound_arguments(helper, value)
    return {v.id for p, v in given.items() if isinstance(v, ast.Name)
            and p in returned(source, helper)}


def read_again(source: SourceFile, statement: ast.stmt, name: str) -> bool:
    """`name` read after the statement in its scope, or in a loop around it that never
    rebinds `name` (the next pass reads what the call wrote)."""
    scope = source.enclosing(statement) or source.tree
    end = statement.end_lineno or statement.lineno
    if any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
           and n.lineno > end for n in body_nodes(source, scope)):
        return True
    loop = source.enclosing(statement, LOOPS)
    return loop is not None and source.enclosing(loop) is source.enclosing(statement) and not any(
        name in bound(n) for n in walk(loop.body))


class ReturnedInput(Rule):
    """MLX267: `xl_aug = cutout(XL, s)` where `cutout` writes into and returns its input."""

    id = "MLX267"
    anchors = ("return",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A def whose parameter some line writes into (`x[...] = `, `x += `) and some
        `return` gives back bare (the helper that writes; its callers return its call)."""
        if "return" not in text or "def " not in text:
            return False
        names = written_names(text)
        names = {n for n in names if f"return {n}" in text}  # a written name returned bare
        return bool(names) and re.search(
            rf"def \w+\([^)]*\b(?:{'|'.join(sorted(names))})\b", text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            if self._rewrites(source, node):
                yield self.hit(source, node)

    def _rewrites(self, source: SourceFile, node: ast.Assign) -> bool:
        """`y = f(A, ...)` with `f` returning `A` written into, `A` an array read again."""
        call, target = node.value, node.targets[0]
        helper = helper_of(source, call) if isinstance(call, ast.Call) else None
        if helper is None or not isinstance(helper, FUNCTIONS) or len(node.targets) != 1:
            return False
        back = returned(source, helper)
        given = {p: v for p, v in bound_arguments(helper, call).items() if p in back
                 and isinstance(v, ast.Name) and v.id not in set(assigned(target))}
        if not given:
            return False
        scope = source.enclosing(node) or source.tree
        arrays = arrays_in(source, scope) | arrays_in(source, source.tree)
        return any(v.id in arrays and read_again(source, node, v.id) for v in given.values())
