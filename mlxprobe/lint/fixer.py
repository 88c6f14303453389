"""Apply the findings' safe edits to a module's text.

Job: turn (line, column) edits into text replacements, last first, skipping any edit that
overlaps one already applied. Columns are `ast`'s UTF-8 byte offsets.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

from .finding import Edit, Finding


def offset(lines: list[str], line: int, col: int) -> int:
    """Character offset in the text of (1-based line, UTF-8 byte column)."""
    if line > len(lines):
        return sum(map(len, lines))
    before = sum(map(len, lines[: line - 1]))
    return before + len(lines[line - 1].encode()[:col].decode(errors="ignore"))


def apply(text: str, findings: list[Finding]) -> tuple[str, int]:
    """The fixed text and how many edits were applied."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
        text += "\n"
    edits = sorted({f.edit for f in findings if f.edit}, key=lambda e: (e.line, e.col),
                   reverse=True)
    applied, floor = 0, len(text) + 1
    for edit in edits:
        start, end = span(lines, edit)
        if end > floor:
            continue
        text = text[:start] + edit.text + text[end:]
        floor, applied = start, applied + 1
    return text, applied


def span(lines: list[str], edit: Edit) -> tuple[int, int]:
    return offset(lines, edit.line, edit.col), offset(lines, edit.end_line, edit.end_col)
