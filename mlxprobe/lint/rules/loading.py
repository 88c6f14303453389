"""MLX012: weights filtered by key membership, then loaded with `strict=False`.

Job: find loaders that skip what they do not find and tell MLX not to check.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments
from ..names import last_name
from ..source import SourceFile, descendants
from .base import Rule

COMPREHENSIONS = (ast.ListComp, ast.GeneratorExp, ast.DictComp)


def filters_by_key(node: ast.AST) -> bool:
    """A comprehension with an `if ... in ...` condition: it drops what is missing."""
    if not isinstance(node, COMPREHENSIONS):
        return False
    conditions = [c for g in node.generators for c in g.ifs]
    return any(isinstance(n, ast.Compare) and any(isinstance(o, ast.In) for o in n.ops)
               for c in conditions for n in descendants(c))


def not_strict(call: ast.Call) -> bool:
    return any(k.arg == "strict" and isinstance(k.value, ast.Constant) and k.value.value is False
               for k in call.keywords)


class SilentPartialLoad(Rule):
    """MLX012: `model.load_weights([... if key in weights], strict=False)`."""

    id = "MLX012"
    anchors = ("load_weights",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "load_weights" in text and "strict" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if last_name(call.func) != "load_weights" or not call.args or not not_strict(call):
                continue
            if any(map(filters_by_key, self._producers(source, call, call.args[0]))):
                yield self.hit(source, call)

    def _producers(self, source: SourceFile, call: ast.Call, arg: ast.AST) -> list[ast.AST]:
        function = source.enclosing(call)
        if not isinstance(arg, ast.Name) or function is None:
            return [arg]
        return [v for t, v in body_assignments(source, function)
                if isinstance(t, ast.Name) and t.id == arg.id]
