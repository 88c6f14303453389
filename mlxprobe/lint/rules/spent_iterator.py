"""MLX188: a one-pass iterator (a generator, `iter(...)`, `map`, `zip`, `enumerate`, a
generator expression) made once, before an epoch loop, and read by a `for` inside it. The
first pass exhausts it; every later epoch's inner loop runs zero times, so the model is
trained for one epoch and then never again, with no error: the epochs go on printing their
headers and their evaluations of a model that no longer changes.

Measured (mlx 0.32.4 CPU, failure corpus fresh145 `wastebin_loader_epochs`, from
mctosima/mlx_playground 804c742, whose fix builds the loaders inside the epoch loop): a small
conv net's numpy generator loaders built once trained 32 steps in epoch 0 (loss 1.377 ->
1.366, chance is 1.386) and none in epochs 1-7 (validation 0.44 -> 0.66 on a frozen model);
built per epoch, loss fell to 0.17 and validation rose to 0.91.

Job: in one function (or the module's top level), a name every binding of which makes a
one-pass iterator (a call of the module's own generator function with no `while`, as
MLX118 reads it; `iter`/`map`/`filter`/`zip`/`enumerate`/`reversed`; a bounded `itertools`
call; a generator expression), bound before a loop that nowhere binds it again, and
iterated there by an inner `for` (over the name itself, or `enumerate`/`tqdm` of it) that has
no `break` of its own. A `zip` of the name with something else is left alone: it may read a
slice on purpose.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments, bound, scope_nodes, walk
from ..names import dotted
from ..source import FUNCTIONS, SourceFile
from .base import TRAINS, Rule, trains
from .one_pass import one_pass as own_generator

ONE_PASS = frozenset({"iter", "map", "filter", "zip", "enumerate", "reversed"})
ENDLESS = frozenset({"cycle", "count", "repeat"})  # itertools' iterators with no end
WRAPPERS = frozenset({"enumerate", "tqdm"})  # read their one argument to its end
LOOPS = (ast.For, ast.AsyncFor, ast.While)


def spent_after_one_read(source: SourceFile, value: ast.AST) -> bool:
    """`value` makes an iterator that is spent after one read: a builtin one, a bounded
    `itertools` one, a generator expression, or a call of the module's own generator with
    no `while` (MLX118's `one_pass`)."""
    if type(value) is ast.GeneratorExp:
        return True
    if type(value) is not ast.Call:
        return False
    parts = dotted(value.func) or []
    if len(parts) == 2 and parts[0] == "itertools":
        return parts[1] not in ENDLESS
    return (len(parts) == 1 and parts[0] in ONE_PASS) or own_generator(source, value)


def iterators(source: SourceFile, nodes: list[ast.AST]) -> dict[str, ast.AST]:
    """Plain names every binding of which (among `nodes`) makes a one-pass iterator, with
    their first binding."""
    found: dict[str, ast.AST] = {}
    other: set[str] = set()
    for target, value in assignments(nodes):
        if type(target) is ast.Name:
            if spent_after_one_read(source, value):
                found.setdefault(target.id, target)
            else:
                other.add(target.id)
    other |= {n for node in nodes if type(node) in (ast.For, ast.AugAssign)
              for n in bound(node)}
    return {name: at for name, at in found.items() if name not in other}


def read_name(loop: ast.AST) -> str | None:
    """The name an inner `for` reads to its end: `for b in it`, `enumerate(it)`, `tqdm(it)`."""
    source = loop.iter
    if type(source) is ast.Call and len(source.args) >= 1 and (
            (dotted(source.func) or [""])[-1] in WRAPPERS):
        source = source.args[0]
    return source.id if type(source) is ast.Name else None


def breaks(loop: ast.AST) -> bool:
    """The loop has a `break` of its own (not one of a loop nested in it)."""
    stack = list(loop.body)
    while stack:
        node = stack.pop()
        if type(node) is ast.Break:
            return True
        if not isinstance(node, (*LOOPS, *FUNCTIONS, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    return False


def once(loop: ast.AST) -> bool:
    """`for _ in range(1)`: an outer loop that runs at most once."""
    it = getattr(loop, "iter", None)
    return (type(it) is ast.Call and dotted(it.func) == ["range"] and len(it.args) == 1
            and type(it.args[0]) is ast.Constant and it.args[0].value in (0, 1))


class SpentIterator(Rule):
    """MLX188: `batches = loader(...)` once, then `for epoch ...: for b in batches:`."""

    id = "MLX188"
    anchors = TRAINS
    local = False  # the generator function may be another top-level block

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text) and text.count("for ") >= 2

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for scope in (source.tree, *source.of_type(*FUNCTIONS)):
            nodes = scope_nodes(source, scope)
            names = iterators(source, nodes)
            if names:
                yield from self._spent(source, nodes, names)

    def _spent(self, source: SourceFile, nodes: list[ast.AST],
               names: dict[str, ast.AST]) -> Iterator[Finding]:
        reported: set[str] = set()
        for outer in (n for n in nodes if type(n) in LOOPS and not once(n)):
            inside = list(walk(outer.body))
            again = {n for node in inside for n in bound(node)}
            for inner in (n for n in inside if type(n) in (ast.For, ast.AsyncFor)):
                name = read_name(inner)
                at = names.get(name or "")
                if at is None or name in reported | again or at.lineno >= outer.lineno or (
                        breaks(inner)):
                    continue
                reported.add(name)
                yield self.hit(source, at)
