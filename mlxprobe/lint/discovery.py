"""Which files `mlxprobe lint PATH...` checks: files as given, `*.py` and `*.ipynb` under
folders, `-` for stdin.

Job: expand the command line's paths into (display name, text) pairs, in a stable order;
a path that cannot be read becomes an error line, and the others are still checked.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})
STDIN = "-"


def python_files(folder: Path) -> Iterator[Path]:
    """`*.py` and `*.ipynb` under `folder`, sorted, skipping hidden and cache folders."""
    found = [*folder.rglob("*.py"), *folder.rglob("*.ipynb")]
    for path in sorted(found):
        parts = path.relative_to(folder).parts[:-1]
        if not any(p.startswith(".") or p in SKIP_DIRS for p in parts):
            yield path


def expand(paths: list[str]) -> Iterator[tuple[str, Path | None]]:
    """(display name, path) for each file to check; path None for stdin."""
    for given in paths:
        if given == STDIN:
            yield STDIN, None
        elif Path(given).is_dir():
            yield from ((str(p), p) for p in python_files(Path(given)))
        else:
            yield given, Path(given)


def read(name: str, path: Path | None) -> str:
    """The file's text (stdin for `-`); raises OSError or UnicodeDecodeError."""
    if path is None:
        return sys.stdin.read()
    return path.read_bytes().decode("utf-8-sig")
