"""Jupyter notebooks: their code cells as one script, and findings mapped back to cells.

Job: `script(raw)` joins the code cells (IPython magics and shell lines blanked, so lines
keep their numbers) and `locate` turns a script line into (cell number, line in the cell),
reported as `nb.ipynb:cell 3:5:9`, as ruff does.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import dataclasses
import json

from .finding import Finding

SUFFIX = ".ipynb"
MAGIC = ("%", "!")


def cell_lines(cell: dict) -> list[str]:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    return ["" if line.lstrip().startswith(MAGIC) else line for line in text.splitlines()]


def script(raw: str) -> tuple[str, list[tuple[int, int]]]:
    """The code cells as one script, and for each script line its (cell, line) (1-based)."""
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("cells", []), list):
        raise ValueError("not a Jupyter notebook")
    cells = [c for c in data.get("cells", []) if isinstance(c, dict)]
    lines: list[str] = []
    where: list[tuple[int, int]] = []
    code = [c for c in cells if c.get("cell_type") == "code"]
    for number, cell in enumerate(code, start=1):
        for index, line in enumerate(cell_lines(cell), start=1):
            lines.append(line)
            where.append((number, index))
    return "\n".join(lines) + "\n", where


def locate(finding: Finding, name: str, where: list[tuple[int, int]]) -> Finding:
    """The finding at `name:cell N` and its line in that cell; no edit (no --fix here)."""
    cell, line = where[finding.line - 1] if finding.line <= len(where) else (0, finding.line)
    return dataclasses.replace(finding, path=f"{name}:cell {cell}", line=line, edit=None)
