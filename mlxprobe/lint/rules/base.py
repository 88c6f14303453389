"""The rule base class: an id, a check over one parsed module, and the way to report a hit.

Job: one place that turns a node into a `Finding` with the rule table's message.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..catalogue import RULES
from ..finding import Edit, Finding
from ..source import SourceFile


class Rule:
    """Subclasses set `id` and implement `check`; one subclass per rule."""

    id = ""

    def check(self, source: SourceFile) -> Iterator[Finding]:
        raise NotImplementedError

    def hit(self, source: SourceFile, node: ast.AST, edit: Edit | None = None) -> Finding:
        return Finding(self.id, source.path, node.lineno, node.col_offset,
                       RULES[self.id].message, edit)
