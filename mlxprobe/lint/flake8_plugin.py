"""The lint's rules as a flake8 plugin (entry point `MLX` in `flake8.extension`).

Job: adapt flake8's (tree, filename, lines) call to the engine and yield flake8's tuples.
flake8 applies `# noqa` itself; `# mlxprobe: ignore[...]` is applied by the engine.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from .engine import lint_tree

VERSION = "0.1.0"


class Flake8Plugin:
    """flake8 calls `Flake8Plugin(tree, filename, lines).run()` once per file."""

    name = "mlxprobe-lint"
    version = VERSION

    def __init__(self, tree: ast.Module, filename: str, lines: list[str]) -> None:
        self.tree, self.filename, self.lines = tree, filename, lines

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        for f in lint_tree(self.tree, "".join(self.lines), self.filename):
            yield f.line, f.col, f"{f.rule} {f.message}", type(self)
