"""MLX259: `mx.save_safetensors(path, weights)` (or `mx.savez`, `mx.save`) given a path the
same function creates as a directory (`os.makedirs(path)`, `path.mkdir()`): MLX appends the
file's suffix to a path that lacks it, so the weights land in a sibling file `path.safetensors`
and the directory holds none of them; whatever later loads `<path>/adapters.safetensors` (a
resume, an evaluation, mlx-lm's `load_adapters`) fails or finds the wrong file.

Measured (mlx 0.32.4 CPU, failure corpus fresh279 `quarry_seam_mimic`, from jina-ai/
mlx-retrieval c40fb9d "fix: training"): a LoRA trainer wrote each checkpoint with
`mx.save_safetensors(str(output_dir), weights)` right after `os.makedirs(output_dir)`; its
resume from the newest `step_N/` raised "[load_safetensors] Failed to open file
.../step_60/adapters.safetensors". Saved to `os.path.join(output_dir, "adapters.safetensors")`
it resumed at the same validation distance (0.5734).

Job: in one function, a name (or `self.x`) handed to `os.makedirs`/`os.mkdir` or whose
`.mkdir(...)` is called, also handed (bare, or in `str(...)`/`os.fspath(...)`) as the first
argument of `mx.save_safetensors`, `mx.savez`, `mx.savez_compressed` or `mx.save`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes
from ..names import dotted
from ..source import FUNCTIONS, SourceFile
from .base import Rule

SAVES = frozenset({"mlx.core.save_safetensors", "mlx.core.savez", "mlx.core.savez_compressed",
                   "mlx.core.save"})
MAKEDIRS = frozenset({"os.makedirs", "os.mkdir"})
WRAPPERS = frozenset({"str", "os.fspath"})


def unwrapped(source: SourceFile, node: ast.AST) -> str | None:
    """The dotted name of `path`, `str(path)`, `os.fspath(self.out)`."""
    while isinstance(node, ast.Call) and len(node.args) == 1 and (
            source.imports.resolve(node.func) or joined(node.func)) in WRAPPERS:
        node = node.args[0]
    return joined(node)


def joined(node: ast.AST) -> str | None:
    """`self.out` for that attribute chain; None for anything else."""
    parts = dotted(node)
    return ".".join(parts) if parts else None


def made_dirs(source: SourceFile, nodes: list[ast.AST]) -> set[str]:
    """Names the function creates as directories."""
    found: set[str] = set()
    for call in (n for n in nodes if isinstance(n, ast.Call)):
        if (source.imports.resolve(call.func) or "") in MAKEDIRS and call.args:
            found.add(unwrapped(source, call.args[0]) or "")
        elif isinstance(call.func, ast.Attribute) and call.func.attr == "mkdir":
            found.add(unwrapped(source, call.func.value) or "")
    return found - {""}


class SafetensorsIntoDirectory(Rule):
    """MLX259: `os.makedirs(out)`; `mx.save_safetensors(str(out), weights)`."""

    id = "MLX259"
    anchors = ("makedirs", "mkdir")
    local = True  # one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("makedirs" in text or "mkdir" in text) and (
            "save_safetensors(" in text or "savez" in text or ".save(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            nodes = body_nodes(source, function)
            dirs = made_dirs(source, nodes)
            if not dirs:
                continue
            for call in (n for n in nodes if isinstance(n, ast.Call)):
                if source.imports.resolve(call.func) in SAVES and call.args \
                        and unwrapped(source, call.args[0]) in dirs:
                    yield self.hit(source, call)
