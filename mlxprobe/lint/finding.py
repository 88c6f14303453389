"""What a rule reports: a finding at a place, with its message and an optional safe edit.

Job: the data passed from rules to the engine, the fixer and the output formats.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    """Replace the text between (line, col) and (end_line, end_col) (1-based lines)."""

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


@dataclass(frozen=True)
class Finding:
    """One rule's report at one place; `edit` is set only for a provably safe rewrite."""

    rule: str
    path: str
    line: int
    col: int  # 0-based, as `ast` gives it; shown 1-based
    message: str
    edit: Edit | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.col, self.rule)
