"""Argument types shared by the subcommands (the run settings' table: `launching.settings`).

Must not import: mlx, the runner."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import UsageError
from ..launching.settings import finite_positive


def positive(text: str) -> float:
    """A number > 0, or an argparse error naming the bad text."""
    try:
        return finite_positive(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def writable_file(path: Path) -> None:
    """A UsageError now, before any run, when a report could not be written to `path`: a
    parent that is a file, or a folder we may not write in (the runs would be lost)."""
    folder = path if path.is_dir() else path.parent
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"cannot write {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: no permission to write in {probe}")
