"""Atomic text files: readers see the old file or the whole new one, never half of it.

Job: write the markdown and JUnit outputs of `compare` and `gate` (temp file in the same
folder, fsync, rename), creating the folder. Must not import: anything of mlxprobe but errors.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import UsageError


def write(path: Path, text: str) -> None:
    """Write `text` to `path` atomically; UsageError (one line) when the folder is unwritable."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a summary is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
