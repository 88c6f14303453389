"""The number a layer's argument holds, as far as the module's own text says: a literal, a
module constant, a command-line option's default (`args.dropout` of `add_argument(
"--dropout", default=0.5)`), or a parameter of the function building the layer: its default,
else what the module's own calls of that function (or of the class whose `__init__` it is)
pass for it, followed a few calls up.

Job: let a rule ask "may this `nn.Dropout(dropout)` drop anything?" when the rate is handed
down from `main` through constructors (fresh158 `modsum_grok_eval`, stockeh/mlx-grokking
8c2ceea: `Transformer(..., args.dropout)` -> `Block(..., dropout)` -> `FeedForward(...,
dropout)` -> `nn.Dropout(dropout)`, the option's default 0.5).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..flow import arguments, assignments, bound_arguments, calls_by_name, defaults
from ..source import SourceFile
from .settings import options

DEPTH = 4  # calls followed up from the layer to where the number is written


def values(source: SourceFile, node: ast.AST | None, at: ast.AST,
           depth: int = DEPTH) -> Iterator[ast.AST]:
    """The literals `node` (an expression inside the code at `at`) may hold."""
    if node is None or depth < 0:
        return
    if isinstance(node, ast.Constant):
        yield node
    elif isinstance(node, ast.Attribute):
        yield from (d for d in option_defaults(source, node.attr))
    elif isinstance(node, ast.Name):
        yield from named(source, node.id, at, depth)


def option_defaults(source: SourceFile, dest: str) -> Iterator[ast.AST]:
    """`default=` of the command-line option whose dest is `dest`."""
    for name, call in options(source):
        if name == dest:
            yield from (k.value for k in call.keywords if k.arg == "default")


def named(source: SourceFile, name: str, at: ast.AST, depth: int) -> Iterator[ast.AST]:
    """A parameter of the function around `at` (its default, else what its callers pass), or
    a name the module's top level binds."""
    function = source.enclosing(at)
    if function is None or name not in arguments(function):
        constants = [v for t, v in assignments(source.tree.body)
                     if isinstance(t, ast.Name) and t.id == name]
        yield from (v for v in constants[-1:] if isinstance(v, ast.Constant))
        return
    if name in defaults(function):
        yield from values(source, defaults(function)[name], function, depth - 1)
        return
    for call in callers(source, function):
        given = bound_arguments(function, as_seen(call, function)).get(name)
        yield from values(source, given, call, depth - 1)



def callers(source: SourceFile, function: ast.AST) -> list[ast.Call]:
    """The module's calls of `function` by its name, or of its class when it is `__init__`."""
    name = function.name
    owner = source.parents.get(function)
    if name == "__init__" and isinstance(owner, ast.ClassDef):
        name = owner.name
    return calls_by_name(source).get(name, [])


def as_seen(call: ast.Call, function: ast.AST) -> ast.Call:
    """`C(a, b)` as `C.__init__` sees it (bound as a method call: `self` not given)."""
    if function.name != "__init__" or not isinstance(call.func, ast.Name):
        return call
    func = ast.Attribute(value=call.func, attr="__init__", ctx=ast.Load())
    return ast.Call(func=func, args=call.args, keywords=call.keywords)
