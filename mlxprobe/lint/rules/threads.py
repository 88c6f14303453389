"""MLX026: lazy arrays built in one thread and handed to another (a queue, a shared list, a
returned future), never evaluated where they were built; MLX246: an array the module's
top-level code builds and never evaluates (`feat_mean = X.mean(axis=0)`), read by a thread's
function that evaluates; MLX050: the same in the other
direction, a loop's arrays put on a queue that a thread's function reads and evaluates (also
through a method that puts its argument: the call sites that hand it a lazy array). A
thread's function is a `Thread(target=f)`/`submit(f)` target or the `run` of a
`threading.Thread` subclass.

Job: follow the arrays a thread's function builds (`dataflow.arrays_in`) to where they leave
the thread. MLX streams are per thread (since mlx 0.31.2): a graph recorded on a worker
thread's stream cannot run from another thread.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import array_dict, arrays_in, evaluation, is_array, under
from ..finding import Finding
from ..flow import arguments, body_assignments, body_nodes, calls, helper_of, names_in
from ..partial import DEFINES, around
from ..source import SourceFile
from .base import Rule

# `Thread(target=f)`, `target=self.f`, `pool.submit(f, ...)`: the names of what runs there
STARTED = re.compile(r"(?:target=|submit\(|run_in_executor\([^,]*,|apply_async\()\s*"
                     r"(?:self\.)?(\w+)")
STARTS = ("target=", "submit(", "run_in_executor(", "apply_async(")  # what starts a thread
HAND_OFF = frozenset({"put", "put_nowait", "append", "extend", "send", "set_result"})


def elements(node: ast.AST) -> list[ast.AST]:
    """The items of a tuple or list display (`q.put((xb, yb))`), else the value itself."""
    return list(node.elts) if isinstance(node, (ast.Tuple, ast.List)) else [node]


class CrossThreadArrays(Rule):
    """MLX026: a function run in another thread (`Thread(target=f)`, `executor.submit(f)`)
    puts, appends or returns an MLX array it built (or a dict of them: a collated batch,
    `batch = self._collate(rows)`), and evaluates nothing itself."""

    id = "MLX026"
    anchors = STARTS

    @staticmethod
    def may_fire(text: str) -> bool:
        return any(s in text for s in STARTS) and (
            "put" in text or "append(" in text or "return" in text or "send(" in text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks that start a thread and those defining the functions it runs."""
        names = set(STARTED.findall(text))
        return lambda block: cls.may_fire(block) or any(f"def {n}(" in block for n in names)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function, nodes in under(source, "thread"):
            if isinstance(function, ast.Lambda) or any(
                    evaluation(source, c) == "eval" for c in calls(nodes)):
                continue
            arrays = arrays_in(source, function)
            batches = {t.id for t, v in body_assignments(source, function)
                       if isinstance(t, ast.Name) and array_dict(source, v, arrays)}
            for node in body_nodes(source, function):
                handed = self._handed(node)
                if handed is not None and any(
                        is_array(source, v, arrays) or array_dict(source, v, arrays)
                        or isinstance(v, ast.Name) and v.id in batches
                        for v in elements(handed)):
                    yield self.hit(source, node)

    def _handed(self, node: ast.AST) -> ast.AST | None:
        """The value that leaves the thread at `node`: `q.put(x)`, `out.append(x)`,
        `return x`."""
        if isinstance(node, ast.Return):
            return node.value
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in HAND_OFF and node.args):
            return node.args[0]
        return None


PUTS = frozenset({"put", "put_nowait"})
CONVERSIONS = frozenset({"float", "int", "print", "str"})


class ArraysIntoThread(Rule):
    """MLX050: outside the threads, an array the code has not evaluated (a loss, a batch) is
    put on a queue that a function run in another thread reads and evaluates
    (`.item()`, `float()`, `print`): the graph belongs to the putting thread's stream."""

    id = "MLX050"
    anchors = ("target=", "submit(", "Thread)")

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("target=" in text or "submit(" in text or "Thread)" in text) and (
            (".put(" in text or ".put_nowait(" in text) and ".get(" in text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks that start a thread or put on a queue, what is started there, their
        callers, and (`around`) everything those run."""
        started = set(STARTED.findall(text))
        return around(text, lambda b: ".put(" in b or ".put_nowait(" in b or "Thread)" in b
                      or STARTED.search(b) is not None,
                      lambda b: not started.isdisjoint(DEFINES.findall(b))).__contains__

    def check(self, source: SourceFile) -> Iterator[Finding]:
        queues = self._read_queues(source)
        if not queues:
            return
        for call in source.of_type(ast.Call):
            if self._put_on(call) in queues and not self._in_thread(source, call):
                scope = source.enclosing(call) or source.tree
                if any(self._lazy(source, v, scope) for v in elements(call.args[0])):
                    yield self.hit(source, call)
                else:
                    yield from self._lazy_callers(source, call, scope)

    def _lazy_callers(self, source: SourceFile, put: ast.Call,
                      scope: ast.AST) -> Iterator[Finding]:
        """`writer.log(step, loss)` where `log(self, step, loss)` puts its argument on the
        queue: the call sites that hand it an array they have not evaluated."""
        params = [a.arg for a in getattr(getattr(scope, "args", None), "args", [])]
        put = {v.id for v in elements(put.args[0]) if isinstance(v, ast.Name)} & set(params)
        if not put:
            return
        method = bool(params) and params[0] == "self"
        for call in source.of_type(ast.Call):
            if helper_of(source, call) is not scope:
                continue
            given = dict(zip(params[1:] if method else params, call.args))
            caller = source.enclosing(call) or source.tree
            if any(n in given and self._lazy(source, given[n], caller) for n in put):
                yield self.hit(source, call)

    def _read_queues(self, source: SourceFile) -> set[str]:
        """Queues (as text: `log_q`, `self.q`) that a thread's function gets from, where that
        function evaluates or converts what it gets."""
        found: set[str] = set()
        for _, nodes in under(source, "thread"):
            if any(evaluation(source, c) or _converts(c) for c in calls(nodes)):
                found |= {ast.unparse(c.func.value) for c in calls(nodes)
                          if isinstance(c.func, ast.Attribute) and c.func.attr == "get"}
        return found

    @staticmethod
    def _put_on(call: ast.Call) -> str | None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in PUTS and call.args:
            return ast.unparse(func.value)
        return None

    @staticmethod
    def _in_thread(source: SourceFile, node: ast.AST) -> bool:
        function = source.enclosing(node)
        return function is not None and any(f is function for f, _ in under(source, "thread"))

    def _lazy(self, source: SourceFile, value: ast.AST, scope: ast.AST) -> bool:
        """`value` is an array of `scope` that no evaluation in `scope` names; a parameter
        of `scope` is judged at its call sites (`_lazy_callers`), where it is evaluated or not."""
        if not isinstance(value, ast.Name) or value.id in arguments(scope) or not is_array(
                source, value, arrays_in(source, scope)):
            return False
        nodes = body_nodes(source, scope) if not isinstance(scope, ast.Lambda) else []
        return not any(evaluation(source, c) == "eval" and value.id in names_in(c)
                       or evaluation(source, c) == "item" and value.id in names_in(c.func)
                       for c in calls(nodes))


def _converts(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Name) and call.func.id in CONVERSIONS


CONSTRUCTED = frozenset({"mlx.core.array", "mlx.core.asarray", "mlx.core.load"})


class GlobalArrayIntoThread(Rule):
    """MLX246: the module's top-level code binds an array by an operation (`feat_mean =
    X_all.mean(axis=0)`), evaluates it nowhere at top level, and a function run in another
    thread reads it and evaluates (`mx.eval(xb)` of `(X[idx] - feat_mean) / feat_std`).
    Measured (mlx 0.32.4 CPU, failure corpus fresh14 `a14_lazy_stats_prefetch_thread`): the
    prefetch thread died with "RuntimeError: There is no Stream(cpu, 0) in current thread"
    at its first batch and the training loop waited on its queue; with `mx.eval(feat_mean,
    feat_std)` after the two lines it trained. An array made from data (`mx.array(rows)`,
    `mx.load`) holds no graph and is not flagged."""

    id = "MLX246"
    anchors = STARTS

    @staticmethod
    def may_fire(text: str) -> bool:
        return any(s in text for s in STARTS) and ("eval(" in text or ".item()" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        lazy = self._lazy_globals(source)
        for _, nodes in under(source, "thread") if lazy else ():
            if any(evaluation(source, c) for c in calls(nodes)):
                read = next((n for n in nodes if type(n) is ast.Name and n.id in lazy
                             and not self._local(source, n)), None)
                if read is not None:
                    yield self.hit(source, read)

    @staticmethod
    def _lazy_globals(source: SourceFile) -> set[str]:
        """Top-level names bound only to arrays built by an operation, never evaluated
        (`mx.eval`, `.item()`) by the top-level code."""
        arrays = arrays_in(source, source.tree)
        values: dict[str, list[ast.AST]] = {}
        for target, value in body_assignments(source, source.tree):
            if isinstance(target, ast.Name):
                values.setdefault(target.id, []).append(value)
        evaluated = {n for c in calls(body_nodes(source, source.tree))
                     if evaluation(source, c) for n in names_in(c)}
        return {name for name, vs in values.items() if name in arrays and name not in evaluated
                and not any(isinstance(v, ast.Call) and source.imports.resolve(v.func)
                            in CONSTRUCTED for v in vs)}

    @staticmethod
    def _local(source: SourceFile, read: ast.Name) -> bool:
        """The function around the read binds the name itself."""
        function = source.enclosing(read)
        return function is None or read.id in arguments(function) or any(
            isinstance(t, ast.Name) and t.id == read.id
            for t, _ in body_assignments(source, function))
