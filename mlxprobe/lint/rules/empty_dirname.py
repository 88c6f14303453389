"""MLX260: `os.makedirs(os.path.dirname(path))` (or through a name bound to that dirname)
with no test of the dirname's truth: a path with no directory part, a checkpoint written to
the working directory (`"model_000.npz"`), has the dirname `""`, and `os.makedirs("")` raises
`FileNotFoundError` (with `exist_ok=True` too, and after `if not os.path.exists(d)`, since
`os.path.exists("")` is False), so the run dies at its first save, after its training.

Measured (mlx 0.32.4 CPU, failure corpus fresh267 `pantry_shelf_cnn`, from
menzHSE/mlx-cifar-10-cnn d09c838 "fixed saving to dirs"): a CNN's `save(fname)` ran
`dir_path = os.path.dirname(fname)`; `if not os.path.exists(dir_path): os.makedirs(dir_path)`;
given `shelf_cnn_000.npz` it raised "FileNotFoundError: [Errno 2] No such file or directory:
''" after epoch 0 (rc 1); with `if dir_path:` around it, 4 epochs and 4 checkpoints.

Job: in one function, `os.makedirs`/`os.mkdir` handed `os.path.dirname(e)` or a name the
function binds to one, unless the function tests that name's truth (`if d:`, `d and ...`,
`if not d: return`) or `e` surely has a directory part (`os.path.join(a, b)`, an absolute
path from `os.path.abspath`/`realpath`, a string constant or f-string with a "/").

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes
from ..source import FUNCTIONS, SourceFile
from .array_truth import tested
from .base import Rule

MAKEDIRS = frozenset({"os.makedirs", "os.mkdir"})
DIRECTORY_PART = frozenset({"os.path.abspath", "os.path.realpath", "os.path.join"})


def dirname_of(source: SourceFile, node: ast.AST) -> ast.AST | None:
    """`e` of `os.path.dirname(e)`, else None."""
    if isinstance(node, ast.Call) and len(node.args) == 1 and \
            source.imports.resolve(node.func) == "os.path.dirname":
        return node.args[0]
    return None


def has_directory_part(source: SourceFile, node: ast.AST) -> bool:
    """`node` surely holds a "/": a join of two or more parts, an absolute path, or a
    string constant or f-string whose text has one."""
    if isinstance(node, ast.Call):
        name = source.imports.resolve(node.func)
        return name in DIRECTORY_PART and (name != "os.path.join" or len(node.args) >= 2)
    texts = [node] if isinstance(node, ast.Constant) else (
        node.values if isinstance(node, ast.JoinedStr) else [])
    return any(isinstance(t, ast.Constant) and "/" in str(t.value) for t in texts)


def truth_tested(nodes: list[ast.AST], name: str) -> bool:
    """`name` is read as a truth value: an `if`/`while`/conditional test, an operand of
    `and`/`or`, or under `not` (`array_truth.tested`)."""
    return any(isinstance(t, ast.Name) and t.id == name for n in nodes for t in tested(n))


def dirnames(source: SourceFile, nodes: list[ast.AST]) -> dict[str, ast.AST]:
    """Names the function binds to `os.path.dirname(e)`, each with its `e`."""
    found: dict[str, ast.AST] = {}
    for node in nodes:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            path = dirname_of(source, node.value)
            if path is not None:
                found[node.targets[0].id] = path
    return found


class MakedirsOfEmptyDirname(Rule):
    """MLX260: `d = os.path.dirname(fname)`; `os.makedirs(d, exist_ok=True)` with no `if d:`."""

    id = "MLX260"
    anchors = ("makedirs", "mkdir")
    local = True  # one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "dirname(" in text and ("makedirs(" in text or "mkdir(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            nodes = body_nodes(source, function)
            bound = dirnames(source, nodes)
            for call in (n for n in nodes if isinstance(n, ast.Call) and n.args):
                if source.imports.resolve(call.func) in MAKEDIRS and \
                        self._unguarded(source, nodes, bound, call.args[0]):
                    yield self.hit(source, call)

    @staticmethod
    def _unguarded(source: SourceFile, nodes: list[ast.AST], bound: dict[str, ast.AST],
                   made: ast.AST) -> bool:
        """`made` is a dirname (inline, or a bound name never truth-tested) of a path that
        may have no directory part."""
        path = dirname_of(source, made)
        if path is None and isinstance(made, ast.Name) and made.id in bound:
            if truth_tested(nodes, made.id):
                return False
            path = bound[made.id]
        return path is not None and not has_directory_part(source, path)
