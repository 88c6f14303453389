"""Atomic text files: readers see the old file or the whole new one, never half of it.

Job: write the markdown and JUnit outputs of `compare` and `gate` (temp file in the same
folder, fsync, rename), creating the folder; and check, before any run, that a report path
can be written (`writable_file`). Must not import: anything of mlxprobe but errors.
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


def writable_file(path: Path) -> None:
    """A UsageError now, before any run, when a report could not be written to `path` (the
    runs would be lost): a parent that is a file, a folder that cannot be created (`/proc/x`)
    or written in. Missing parent folders are created here, as the write would have; then a
    probe file is made and removed in the folder, which is the only check that holds for root,
    read-only file systems and pseudo file systems alike."""
    folder = path if path.is_dir() else path.parent
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"cannot write {path}: {probe} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".mlxprobe-write-check.", dir=folder)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(name)
