"""MLX061: a process pool or process started with the fork start method (`multiprocessing.Pool`,
`Process`, `concurrent.futures.ProcessPoolExecutor`, a `get_context("fork")` context; fork is
the Linux default before Python 3.14) whose workers run MLX, in a module that runs MLX itself,
with no spawn or forkserver start method set: a child forked from a process whose MLX has run
has none of MLX's threads and blocks in its first MLX op.

Job: find the fork-started pools and processes, the module's own functions they run (`map`,
`submit`, `apply_async`, `target=`, `initializer=`), and whether those and the rest of the
module call MLX.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import function_of, partial_of
from ..finding import Finding
from ..flow import calls, reach
from ..names import last_name
from ..source import SourceFile, descendants
from .base import Rule

STARTERS = frozenset({"multiprocessing.Pool", "multiprocessing.pool.Pool",
                      "multiprocessing.Process", "concurrent.futures.ProcessPoolExecutor",
                      "concurrent.futures.process.ProcessPoolExecutor"})
CONTEXT = "multiprocessing.get_context"
SET_METHOD = "multiprocessing.set_start_method"
SAFE = frozenset({"spawn", "forkserver"})
RUNS = frozenset({"map", "imap", "imap_unordered", "starmap", "apply", "apply_async",
                  "map_async", "starmap_async", "submit"})


def method_of(call: ast.Call) -> str | None:
    """The start method a `get_context(...)`/`set_start_method(...)` call names (None: the
    default)."""
    value = call.args[0] if call.args else next(
        (k.value for k in call.keywords if k.arg == "method"), None)
    return value.value if isinstance(value, ast.Constant) else None


class ForkAfterMlx(Rule):
    """MLX061: `pool = mp.Pool(2); pool.map(make_shard, seeds)` where `make_shard` calls MLX
    and the module has run MLX before: the forked workers block in their first MLX op."""

    id = "MLX061"
    anchors = ("multiprocessing", "ProcessPool")

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mlx" in text and ("multiprocessing" in text or "ProcessPool" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if any(source.imports.resolve(c.func) == SET_METHOD and method_of(c) in SAFE
               for c in source.of_type(ast.Call)):
            return
        for call in source.of_type(ast.Call):
            if self._forks(source, call):
                workers = self._workers(source, call)
                if workers and self._mlx_in(source, workers) and self._mlx_outside(
                        source, workers):
                    yield self.hit(source, call)

    def _forks(self, source: SourceFile, call: ast.Call) -> bool:
        """A pool or process started with the fork method."""
        if source.imports.resolve(call.func) in STARTERS:
            context = next((k.value for k in call.keywords if k.arg == "mp_context"), None)
            return context is None or self._fork_context(source, context)
        return (isinstance(call.func, ast.Attribute) and call.func.attr in ("Pool", "Process")
                and self._fork_context(source, call.func.value))

    def _fork_context(self, source: SourceFile, node: ast.AST) -> bool:
        """`mp.get_context("fork")` (or with no method), inline or through a name."""
        if isinstance(node, ast.Name):
            node = self._bound(source, node.id)
        return (isinstance(node, ast.Call) and source.imports.resolve(node.func) == CONTEXT
                and method_of(node) not in SAFE)

    @staticmethod
    def _bound(source: SourceFile, name: str) -> ast.AST | None:
        values = [n.value for n in source.of_type(ast.Assign) if any(
            isinstance(t, ast.Name) and t.id == name for t in n.targets)]
        return values[0] if len(values) == 1 else None

    def _workers(self, source: SourceFile, start: ast.Call) -> list[ast.AST]:
        """The module's own functions the pool or process runs."""
        given = [k.value for k in start.keywords if k.arg in ("target", "initializer")]
        names = self._names(source, start)
        for call in source.of_type(ast.Call):
            owner = call.func.value if isinstance(call.func, ast.Attribute) else None
            if call.args and last_name(call.func) in RUNS and (owner is start or (
                    isinstance(owner, ast.Name) and owner.id in names)):
                given.append(call.args[0])
        functions = [function_of(source, partial_of(g) or g) for g in given]
        return [f for f in functions if f is not None]

    @staticmethod
    def _names(source: SourceFile, start: ast.Call) -> set[str]:
        """`pool` in `pool = mp.Pool(2)` or `with mp.Pool(2) as pool`."""
        parent = source.parents.get(start)
        if isinstance(parent, ast.Assign):
            return {t.id for t in parent.targets if isinstance(t, ast.Name)}
        if isinstance(parent, ast.withitem) and isinstance(parent.optional_vars, ast.Name):
            return {parent.optional_vars.id}
        return set()

    @staticmethod
    def _mlx_in(source: SourceFile, workers: list[ast.AST]) -> bool:
        body = [s for w in workers for s in (w.body if isinstance(w.body, list) else [w.body])]
        return any((source.imports.resolve(c.func) or "").startswith("mlx.")
                   for c in calls(reach(source, body)))

    @staticmethod
    def _mlx_outside(source: SourceFile, workers: list[ast.AST]) -> bool:
        """Some MLX call of the module is not in a worker (the parent runs MLX too)."""
        inside = {n for w in workers for n in descendants(w)}
        return any(c not in inside and (source.imports.resolve(c.func) or "").startswith("mlx.")
                   for c in source.of_type(ast.Call))
