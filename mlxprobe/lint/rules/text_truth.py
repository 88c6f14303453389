"""MLX225: a text field read as a boolean with `bool(...)`: `bool(row["label"])` over the rows
of `csv.reader`/`csv.DictReader`, or an argparse option declared `type=bool`. Python's
`bool` of a string is True for every non-empty string, so "false", "0" and "no" all read as
True: every negative label becomes a positive one (a preference or classification target
reversed for half the data), or a flag given as `--flag False` turns the option on.

Measured (Python 3.11): `bool("false") is True`, `bool("0") is True`; failure corpus fresh222
`thumbsvote_kto_csvlabels` (unsloth-zoo PR 912, "Preserve binary label values instead of
coercing strings"): KTO labels read from a CSV export with `bool(r["label"])`, all 800 rows
marked desirable, the loss fell 0.500 -> 0.363 while held-out preference accuracy stayed at
chance (44-52.5%); parsed with `.strip().lower() in ("1", "true", "yes")`, 98.5%.

Job: a call `bool(x[...])` whose `x` is the target of a `for` loop or comprehension over a CSV
reader (`csv.reader(...)`, `csv.DictReader(...)`, directly, through `enumerate`/`list`, or
through a name bound to one in the same scope), and a call `add_argument(..., type=bool)`.
Strings from JSON or a dataset library are not read here (their booleans are booleans).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assigned
from ..source import SourceFile
from .base import Rule

READERS = frozenset({"csv.reader", "csv.DictReader"})
WRAPPERS = frozenset({"enumerate", "list", "iter", "tuple"})


class TextTruth(Rule):
    """MLX225: `bool(row["label"])` over CSV rows, or `add_argument(type=bool)`."""

    id = "MLX225"
    anchors = ("bool",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("bool(" in text and "csv" in text) or "type=bool" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if bool_of_row(source, call) or bool_option(call):
                yield self.hit(source, call)


def bool_option(call: ast.Call) -> bool:
    """`parser.add_argument("--flag", type=bool)`."""
    return isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument" and any(
        k.arg == "type" and isinstance(k.value, ast.Name) and k.value.id == "bool"
        for k in call.keywords)


def bool_of_row(source: SourceFile, call: ast.Call) -> bool:
    """`bool(name[...])` where `name` walks the rows of a CSV reader."""
    if not (isinstance(call.func, ast.Name) and call.func.id == "bool" and len(call.args) == 1
            and isinstance(call.args[0], ast.Subscript)
            and isinstance(call.args[0].value, ast.Name)):
        return False
    name = call.args[0].value.id
    return any(name in assigned(loop.target) and reads_csv(source, loop.iter, call)
               for loop in loops_around(source, call))


def loops_around(source: SourceFile, node: ast.AST) -> Iterator[ast.For | ast.comprehension]:
    """The `for` statements and comprehension clauses that enclose `node`."""
    parent = source.parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.For):
            yield parent
        elif isinstance(parent, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            yield from parent.generators
        parent = source.parents.get(parent)


def reads_csv(source: SourceFile, node: ast.AST, site: ast.AST, depth: int = 2) -> bool:
    """`node` is a CSV reader, one wrapped in `enumerate`/`list`, or a name bound to one in
    the scope of `site`."""
    if isinstance(node, ast.Call):
        if source.imports.resolve(node.func) in READERS:
            return True
        return (isinstance(node.func, ast.Name) and node.func.id in WRAPPERS and node.args
                and reads_csv(source, node.args[0], site, depth))
    if isinstance(node, ast.Name) and depth > 0:
        scope = source.enclosing(site) or source.tree
        return any(isinstance(a, ast.Assign) and any(node.id in assigned(t) for t in a.targets)
                   and reads_csv(source, a.value, site, depth - 1) for a in ast.walk(scope))
    return False
