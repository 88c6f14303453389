"""MLX026: lazy arrays built in one thread and handed to another (a queue, a shared list, a
returned future), never evaluated where they were built.

Job: follow the arrays a thread's function builds (`dataflow.arrays_in`) to where they leave
the thread. MLX streams are per thread (since mlx 0.31.2): a graph recorded on a worker
thread's stream cannot run from another thread.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import arrays_in, evaluation, is_array, under
from ..finding import Finding
from ..flow import calls, walk
from ..source import SourceFile
from .base import Rule

# `Thread(target=f)`, `target=self.f`, `pool.submit(f, ...)`: the names of what runs there
STARTED = re.compile(r"(?:target=|submit\(|run_in_executor\([^,]*,|apply_async\()\s*"
                     r"(?:self\.)?(\w+)")
HAND_OFF = frozenset({"put", "put_nowait", "append", "extend", "send", "set_result"})


class CrossThreadArrays(Rule):
    """MLX026: a function run in another thread (`Thread(target=f)`, `executor.submit(f)`)
    puts, appends or returns an MLX array it built, and evaluates nothing itself."""

    id = "MLX026"

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("target=" in text or "submit(" in text or "run_in_executor(" in text
                or "apply_async(" in text) and ("put" in text or "append(" in text
                                                or "return" in text or "send(" in text)

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
            for node in walk(function.body):
                handed = self._handed(node)
                if handed is not None and is_array(source, handed, arrays):
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
