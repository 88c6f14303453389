"""Qualified names: what `mx.eval`, `ev` or `nn.value_and_grad` refer to in one module.

Job: read a module's imports (at any depth) into an alias table and resolve a `Name` or an
`Attribute` chain to a dotted name, so `import mlx.core as mx`, `from mlx.core import eval as
ev`, `from mlx import core` and `import mlx.core` all give `mlx.core.eval`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable

BUILTIN_NAMES = frozenset(dir(builtins))  # what a bare name may mean without a binding

EVAL = frozenset({"mlx.core.eval", "mlx.core.async_eval"})
MX_GRAD = frozenset({"mlx.core.value_and_grad", "mlx.core.grad"})
NN_GRAD = frozenset({"mlx.nn.value_and_grad", "mlx.nn.utils.value_and_grad"})
TREE_FLATTEN = frozenset({"mlx.utils.tree_flatten"})
TREE_MAP = frozenset({"mlx.utils.tree_map"})
CROSS_ENTROPY = frozenset({"mlx.nn.losses.cross_entropy"})
ARRAY = frozenset({"mlx.core.array"})
MLX_CORE = "mlx.core"


class Imports:
    """Alias -> dotted name for every import statement of one module."""

    def __init__(self, statements: Iterable[ast.AST]) -> None:
        self.aliases: dict[str, str] = {}
        self._resolved: dict[ast.AST, str | None] = {}  # rules ask about the same calls
        for node in statements:
            if isinstance(node, ast.Import):
                self._add_import(node)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                self._add_from(node)

    def _add_import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def _add_from(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def resolve(self, node: ast.AST) -> str | None:
        """`mx.eval` -> "mlx.core.eval"; None for a local or an unknown expression."""
        if node not in self._resolved:
            parts = dotted(node)
            self._resolved[node] = None if parts is None or parts[0] not in self.aliases \
                else ".".join([self.aliases[parts[0]], *parts[1:]])
        return self._resolved[node]

    def alias_of(self, qualified: str) -> str | None:
        """The local name bound to the module `qualified` (`mx` for mlx.core), if any."""
        for alias, target in self.aliases.items():
            if target == qualified:
                return alias
        return None

    def uses_mlx(self) -> bool:
        """Anything imported from `mlx` or an `mlx_*` package (mlx_lm, mlx_vlm, ...)."""
        return any(t.split(".")[0] == "mlx" or t.startswith("mlx_") for t in self.aliases.values())


def dotted(node: ast.AST) -> list[str] | None:
    """["self", "optimizer", "update"] for `self.optimizer.update`; None if not a plain chain."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def last_name(node: ast.AST) -> str | None:
    """The last segment of a name or an attribute chain (`update` for `opt.update`)."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None
