"""MLX047: a training module reads a name that nothing in it binds and no builtin provides.
Most such reads sit where a run reaches them late: a branch a loop runs only on some
iterations (every N steps: validation, a checkpoint), a function run only on some calls
(under an `if`: a resume path), a read after the loop (a closing summary).

Job: collect every name the module binds anywhere (assignments, parameters, definitions,
imports, `except ... as`, `match` captures, `global`) and flag the first read of each name
outside that set and outside `builtins`. Python looks a global up only when the line runs, so
a stale name in a periodic branch trains for hours and then raises NameError (mlx-examples#3:
`eval_fn(params, valid)` in a script that holds a `model`). Until stop 69 only such late reads
were flagged; a read that runs at every step or at once is flagged too since (fresh233
`kiln_glaze_completions`, mlx-lm PR 591: a dataset's `process` still calling
`_apply_chat_template_safe`, a helper a refactor removed: NameError at the first batch): a user
who does not run pyflakes meets it only when the run dies; measured over every kept corpus
script and mlx-lm, mlx-lm-lora and mlx-vlm, the modules that train hold 11 names nothing binds,
all in broken scripts, none in a correct loop or the packages. A name read in a function,
bound neither in it (nor in the functions around it) nor at the module's top level (a `self`
in a function nested in `main`), is flagged too when that function runs late: all its calls
periodic, or after a loop. A module with a star import or that writes its own namespace
(`globals()`, `exec`) is skipped: its names cannot be read off the text.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import conditional
from ..finding import Finding
from ..flow import between, body_nodes, calls_by_attr, calls_by_name, walk
from ..names import BUILTIN_NAMES
from ..source import LOOPS, SourceFile
from .base import TRAINS, Rule, trains

# Module attributes, names builtins gains in later Pythons, IPython's injected names.
IMPLICIT = frozenset({
    "__file__", "__name__", "__doc__", "__spec__", "__loader__", "__package__", "__path__",
    "__builtins__", "__annotations__", "__dict__", "__module__", "__qualname__", "__class__",
    "__debug__", "ExceptionGroup", "BaseExceptionGroup", "aiter", "anext", "EncodingWarning",
    "PythonFinalizationError", "WindowsError", "display", "get_ipython"})
KNOWN = BUILTIN_NAMES | IMPLICIT
DYNAMIC = ("globals()", "locals()", "vars()", "exec(", "__builtins__", "import *",
           "sys.modules[")
BINDERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler,
           ast.MatchAs, ast.MatchStar)


def imported(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    for alias in node.names:
        yield alias.asname or alias.name.split(".")[0]


BINDING_NODES = (ast.Name, ast.arg, *BINDERS, ast.Import, ast.ImportFrom, ast.Global,
                 ast.Nonlocal, ast.MatchMapping)


def binds(node: ast.AST) -> Iterator[str]:
    """The names one node binds: a stored name, an argument, a definition, an import, a
    `global`/`nonlocal`, a `match` capture."""
    if isinstance(node, ast.Name):
        if not isinstance(node.ctx, ast.Load):
            yield node.id
    elif isinstance(node, ast.arg):
        yield node.arg
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        yield from imported(node)
    elif isinstance(node, (ast.Global, ast.Nonlocal)):
        yield from node.names
    elif isinstance(node, ast.MatchMapping):
        yield from [node.rest] if node.rest else []
    elif isinstance(node, BINDERS) and node.name:
        yield node.name


def bound_names(source: SourceFile) -> set[str]:
    """Every name the module binds, at any depth and in any scope."""
    return {name for node in source.of_type(*BINDING_NODES) for name in binds(node)}


def periodic(source: SourceFile, node: ast.AST) -> bool:
    """`node` runs only on some iterations of the loop around it, or only on some calls of
    the function around it (under an `if` in its body: a resume path, a final evaluation;
    fresh43 `adapter_resume_name`, mlx-examples PR 817: a bare `resume_adapter_file` for
    `args.resume_adapter_file` under `if args.resume_adapter_file is not None:`, NameError
    in the second session only)."""
    loop = source.enclosing(node, LOOPS)
    if loop is not None and conditional(source, node, loop):
        return True
    function = source.enclosing(node)
    return function is not None and under_if(source, node, function)


def under_if(source: SourceFile, node: ast.AST, function: ast.AST) -> bool:
    """An `if` between `node` and its function (an `except` handler is left out: a worker's
    handler reading a closure's list is the usual shape there)."""
    return between(source, node, function, (ast.If, ast.IfExp))


class UnboundName(Rule):
    """MLX047: the first read of each name that the module never binds (not a builtin), in
    a module that trains."""

    id = "MLX047"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text) and not any(d in text for d in DYNAMIC)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        known = bound_names(source) | KNOWN
        reported: set[str] = set()
        reads = sorted((n for n in source.of_type(ast.Name) if isinstance(n.ctx, ast.Load)
                        and (n.id not in known or unbound_in_late_function(source, n))),
                       key=lambda n: (n.lineno, n.col_offset))
        for name in reads:
            if name.id not in reported:
                reported.add(name.id)
                yield self.hit(source, name)


def module_level(source: SourceFile) -> set[str]:
    """Names the module's own top-level code binds (definitions, imports, assignments, in
    any block but not inside a function or class body), and every `global` name."""
    found = {name for n in source.of_type(ast.Global) for name in n.names}
    # `walk` does not enter functions, classes or lambdas
    return found | {name for node in body_nodes(source, source.tree) for name in binds(node)}


def unbound_in_late_function(source: SourceFile, read: ast.Name) -> bool:
    """`read` names nothing its outermost function binds (at any depth) nor the module's
    top level, and the function it sits in runs late: called only on some iterations of a
    loop, or after a loop (mlx-examples' LSTM example, fresh14 `b14_eval_fn_self_reference`:
    `self.loss(...)` in an `eval_fn` nested in `main`, NameError at the first validation)."""
    function = source.enclosing(read)
    if function is None or read.id in KNOWN or read.id in source.cached(
            "module_level", source.tree, lambda: module_level(source)):
        return False
    outer = function
    while (up := source.enclosing(outer)) is not None:
        outer = up
    if read.id in source.cached("bound_in", outer, lambda: bound_in(outer)):
        return False
    return source.cached("runs_late", function, lambda: runs_late(source, function))


def runs_late(source: SourceFile, function: ast.AST) -> bool:
    """Every call of the function by name (of a method: `obj.name(...)` too) is periodic or
    after a loop (and there is one): fresh262 `marten_ledger_rolling` (mlx-lm PR 339), a
    scorer's `loglikelihood_rolling` reading `texts`, a name only another method binds, called
    as `scorer.loglikelihood_rolling(requests)` after training: NameError once it finished."""
    name = getattr(function, "name", None)
    sites = calls_by_name(source).get(name, [])
    if isinstance(source.parents.get(function), ast.ClassDef):
        sites = sites + calls_by_attr(source).get(name, [])
    return bool(sites) and all(periodic(source, c) or after_a_loop(source, c) for c in sites)


def bound_in(function: ast.AST) -> set[str]:
    """Every name bound anywhere in a function, its nested functions and lambdas included
    (one pass over its nodes, by the children `source.index` recorded)."""
    found: set[str] = set()
    stack = [function]
    while stack:
        node = stack.pop()
        stack.extend(node._kids)  # type: ignore[attr-defined]  # set by `source.index`
        found.update(binds(node))
    return found


def after_a_loop(source: SourceFile, node: ast.AST) -> bool:
    """A node outside any loop, on a line after a loop of its own function: a run's closing
    summary (fresh157 `pretrain_summary_metrics`, mlx-cuda-distributed-pretraining 19a02e5:
    `{metrics}` in the final log lines after a refactor renamed it)."""
    if source.enclosing(node, LOOPS) is not None:
        return False
    scope = source.enclosing(node)
    body = scope.body if scope is not None else source.tree.body
    return any(isinstance(n, LOOPS) and n.end_lineno < node.lineno for n in walk(body))
