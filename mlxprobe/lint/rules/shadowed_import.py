"""MLX233: a function that rebinds a module's imported name (`mx`, `nn`, `np`) only inside an
`if` and reads it outside that `if`. One assignment anywhere in a function makes the name
local to the whole function, so every read of it there looks at the local; on the path that
skips the branch the local was never bound and the read raises `UnboundLocalError: cannot
access local variable 'mx'`. (A read before the assignment on every path is pyflakes'; this
one depends on the branch, so it passes the first run that takes it.)

Measured (mlx 0.32.4 CPU, failure corpus fresh235 `quayside_manifest_microbatch`,
mlx-genkit 6cfc1a3): a gradient-accumulation closure rebound `mx, _ = try_import_mlx()` in its
bfloat16 branch; in float32 its second micro-batch read `getattr(mx, "tree_map", None)` and
raised UnboundLocalError before any update.

Job: per function, the names the module imports at its top level that the function assigns
only under an `if` (no `global`/`nonlocal` for them), and a read of the name in the same
function that lies outside every `if` holding one of those assignments.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes
from ..source import FUNCTIONS, SourceFile
from .base import Rule


class ShadowedImport(Rule):
    """MLX233: `if bf16: mx, _ = load()` in a function that also reads `mx` elsewhere."""

    id = "MLX233"
    anchors = ("import ",)
    local = True  # one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "import " in text and "if " in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        imported = module_imports(source) & {
            n.id for n in source.of_type(ast.Name) if isinstance(n.ctx, ast.Store)}
        if not imported:  # no imported name is ever assigned (most modules): nothing to walk
            return
        for function in source.of_type(*FUNCTIONS):
            nodes = body_nodes(source, function)
            declared = {n for s in nodes if isinstance(s, (ast.Global, ast.Nonlocal))
                        for n in s.names}
            stored = {n.id for n in nodes if isinstance(n, ast.Name)
                      and isinstance(n.ctx, ast.Store)}
            for name in (imported & stored) - declared:
                read = unguarded_read(source, function, nodes, name)
                if read is not None:
                    yield self.hit(source, read)


def module_imports(source: SourceFile) -> set[str]:
    found: set[str] = set()
    for node in source.tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {a.asname or a.name.split(".")[0] for a in node.names}
    return found


def unguarded_read(source: SourceFile, function: ast.AST, nodes: list[ast.AST],
                   name: str) -> ast.Name | None:
    """The first read of `name` outside the `if`s that hold its only assignments."""
    stores = [n for n in nodes if isinstance(n, ast.Name) and n.id == name
              and isinstance(n.ctx, ast.Store)]
    guards = [guard_of(source, s, function) for s in stores]
    if not stores or any(g is None for g in guards):
        return None
    held = {id(n) for g in guards for n in ast.walk(g)}
    reads = [n for n in nodes if isinstance(n, ast.Name) and n.id == name
             and isinstance(n.ctx, ast.Load) and id(n) not in held]
    return min(reads, key=lambda n: (n.lineno, n.col_offset), default=None)


def guard_of(source: SourceFile, node: ast.AST, function: ast.AST) -> ast.If | None:
    """The outermost `if` between `node` and its function (None when there is none)."""
    found = None
    parent = source.parents.get(node)
    while parent is not None and parent is not function:
        if isinstance(parent, ast.If):
            found = parent
        parent = source.parents.get(parent)
    return found
