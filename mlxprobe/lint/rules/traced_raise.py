"""MLX161: a function compiled with its state declared (`partial(mx.compile, inputs=state,
outputs=state)`) raises, and the program calls it inside a `try` whose handler goes on. A
compiled function's Python runs only while it is traced: the exception leaves the trace
halfway, with its placeholder arrays in the declared state, and the next evaluation of that
state raises "[eval] Attempting to eval an array without a primitive".

Measured (mlx 0.32.4 CPU, failure corpus fresh54 `compiled_step_guard_raise`, mlx-vlm issue
1654): a compiled step that raised ValueError for a one-row tail batch, skipped by the loop's
`except ValueError: continue`, crashed the epoch's evaluation with that RuntimeError;
checked before the call, outside the compiled function, it trains to val acc 0.86. A
function compiled without declared state is not affected (measured: it traces again).

Job: functions compiled with `inputs=`/`outputs=` (`compiled.stateful_compiles`) with a
`raise` of their own, and a call of the compiled name in the body of a `try` with a handler
that catches it (bare, `Exception`, `BaseException` or the raised class) and holds no
`raise`. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes
from ..names import last_name
from ..source import SourceFile
from .base import Rule
from .compiled import stateful_compiles
from .gradients import is_broad
from .tracing import mx_compiles


def raised(source: SourceFile, function: ast.AST) -> set[str]:
    """The class names the function's own `raise` statements name ("" for a bare one)."""
    found = set()
    for node in body_nodes(source, function):
        if isinstance(node, ast.Raise):
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            found.add(last_name(exc) or "" if exc is not None else "")
    return found


def compiled_names(source: SourceFile, function: ast.AST, compiler: ast.AST) -> set[str]:
    """The names the compiled function is called by: its own (decorated) or the names a
    `step = mx.compile(f, ...)` binds."""
    if compiler in function.decorator_list:
        return {function.name}
    parent = source.parents.get(compiler)
    if isinstance(parent, ast.Assign):
        return {t.id for t in parent.targets if isinstance(t, ast.Name)}
    return set()


def swallowed(source: SourceFile, call: ast.Call, kinds: set[str]) -> bool:
    """`call` sits in a `try` body one of whose handlers catches one of `kinds` and does
    not raise."""
    node, parent = call, source.parents.get(call)
    while parent is not None:
        if isinstance(parent, ast.Try) and node in parent.body:
            if any(_catches(h, kinds) and not _raises(h) for h in parent.handlers):
                return True
        node, parent = parent, source.parents.get(parent)
    return False


def _catches(handler: ast.ExceptHandler, kinds: set[str]) -> bool:
    """A bare or broad handler (`gradients.is_broad`), or one that names a raised class."""
    if is_broad(handler):
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return bool({last_name(t) for t in types} & kinds)


def _raises(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(n, ast.Raise) for n in ast.walk(handler))


class RaiseInCompiledCaught(Rule):
    """MLX161: a stateful compiled function that raises, called under a `try` that goes on."""

    id = "MLX161"
    anchors = ("raise",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "raise" in text and "except" in text and (
            "inputs=" in text or "outputs=" in text) and mx_compiles(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function, compiler in stateful_compiles(source):
            kinds = raised(source, function)
            names = compiled_names(source, function, compiler)
            if not kinds or not names:
                continue
            for call in source.of_type(ast.Call):
                if isinstance(call.func, ast.Name) and call.func.id in names \
                        and swallowed(source, call, kinds):
                    yield self.hit(source, call)
