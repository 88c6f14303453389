"""MLX231: `mx.save(path, **state)` or `mx.save(path, tree)`: `mx.save` writes one array (a
.npy file) and takes exactly `(file, arr)`; a dict of arrays spread as keywords, or passed
whole (a checkpoint state, adapters, `model.parameters()`), raises `TypeError: save():
incompatible function arguments` when the save first runs, often at the first checkpoint,
after training has run for a while.

Measured (mlx 0.32.4 CPU, failure corpus fresh234 `orchard_graft_ledger`, SiLLM 8a2322a "Fix
checkpoint save"): a LoRA run whose periodic checkpoint wrote `mx.save(adapter_path,
**state)` trained 30 steps (validation loss 11.9 -> 3.4) and died with that TypeError;
`mx.save_safetensors(adapter_path, state)` saved at steps 30/60/90 and reloaded.

Job: a call resolving to `mlx.core.save` with a `**` argument, a third positional argument,
or a second argument that is a dict (a display, a comprehension, `dict(...)`, a call of
`.parameters()`/`.trainable_parameters()`, or a name bound to one of those in its function).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import bound_only_to
from ..source import SourceFile
from .base import Rule

TREES = frozenset({"parameters", "trainable_parameters", "items"})


class SaveOfTree(Rule):
    """MLX231: `mx.save(path, **d)` or `mx.save(path, d)` with `d` a dict of arrays."""

    id = "MLX231"
    anchors = ("save(",)
    local = True  # reads one call and its function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "save(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) == "mlx.core.save" and saves_tree(source, call):
                yield self.hit(source, call)


def saves_tree(source: SourceFile, call: ast.Call) -> bool:
    if any(k.arg is None for k in call.keywords) or len(call.args) > 2:
        return True
    value = call.args[1] if len(call.args) == 2 else next(
        (k.value for k in call.keywords if k.arg == "arr"), None)
    return value is not None and is_tree(source, value, source.enclosing(call), 2)


def is_tree(source: SourceFile, node: ast.AST, scope: ast.AST | None, depth: int) -> bool:
    """A dict: a display, a comprehension, `dict(...)`, `.parameters()`, or a name bound to
    one (every binding of it in its function or module)."""
    if isinstance(node, (ast.Dict, ast.DictComp)):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        return (isinstance(func, ast.Name) and func.id == "dict") or (
            isinstance(func, ast.Attribute) and func.attr in TREES - {"items"})
    return bound_only_to(source, node, scope, depth,
                         lambda value, left: is_tree(source, value, scope, left))
