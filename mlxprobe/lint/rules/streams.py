"""Rules about MLX streams, which belong to the thread that made them (since mlx 0.31.2):
MLX051 (a stream made outside a function that runs in another thread, used there) and MLX052
(a new stream made at every step: `mx.new_stream` in a loop, or in a function a loop calls).

Job: follow names bound to `mx.new_stream(...)` to the functions that use them, and find the
calls that make a stream per iteration.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import SUBMIT, transformed_arg, under
from ..finding import Finding
from ..flow import arguments, assigned, assignments, body_nodes, calls, helper_of
from ..names import last_name
from ..source import LOOPS, SourceFile
from .base import Rule

NEW_STREAM = "mlx.core.new_stream"


def makes_stream(source: SourceFile, node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and source.imports.resolve(node.func) == NEW_STREAM


class ForeignStream(Rule):
    """MLX051: a function run in another thread (`Thread(target=f)`, `pool.submit(f)`) uses a
    stream bound outside it (`s = mx.new_stream(mx.cpu)` at module level): that stream
    belongs to the thread that made it, and work put on it from the worker never runs."""

    id = "MLX051"
    anchors = ("new_stream(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "new_stream(" in text and ("target=" in text or "submit(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        streams = {t.id for t, v in assignments(source.of_type(ast.Assign))
                   if isinstance(t, ast.Name) and makes_stream(source, v)}
        if not streams:
            return
        for function, nodes in under(source, "thread"):
            local = {n for node in nodes if isinstance(node, ast.Assign)
                     for t in node.targets for n in assigned(t)}
            for node in nodes:
                if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                        and node.id in streams - local - arguments(function)):
                    yield self.hit(source, node)
        for call in source.of_type(ast.Call):
            for given in thread_arguments(source, call):
                if isinstance(given, ast.Name) and given.id in streams:
                    yield self.hit(source, given)


def thread_arguments(source: SourceFile, call: ast.Call) -> list[ast.AST]:
    """What a thread start hands its function: `Thread(target=f, args=(a, b))`,
    `pool.submit(f, a, b)`."""
    given = transformed_arg(source, call)
    if given is None or given[0] != "thread":
        return []
    args = next((k.value for k in call.keywords if k.arg == "args"), None)
    if isinstance(args, (ast.Tuple, ast.List)):
        return list(args.elts)
    return list(call.args[1:]) if last_name(call.func) in SUBMIT else []


class StreamPerStep(Rule):
    """MLX052: `mx.new_stream(...)` inside a loop, or inside a function that a loop calls:
    every iteration makes (and keeps) another stream."""

    id = "MLX052"
    anchors = ("new_stream(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "new_stream(" in text and ("for " in text or "while " in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        found: set[ast.AST] = set()
        for loop in source.of_type(*LOOPS):
            nodes = body_nodes(source, loop)
            found |= {n for n in nodes if makes_stream(source, n)}
            for helper in {h for c in calls(nodes) if (h := helper_of(source, c))}:
                found |= set(self._top_level_streams(source, helper))
        yield from (self.hit(source, n) for n in sorted(found, key=lambda n: n.lineno))

    @staticmethod
    def _top_level_streams(source: SourceFile, function: ast.AST) -> Iterator[ast.AST]:
        """The stream calls a function makes on each call (those in its own loops are found
        with the loop)."""
        inner = {n for loop in source.of_type(*LOOPS) if source.enclosing(loop) is function
                 for n in body_nodes(source, loop)}
        return (n for n in body_nodes(source, function) if makes_stream(source, n)
                and n not in inner)
