"""Argument types shared by the subcommands (the run settings' table: `launching.settings`).

Must not import: mlx, the runner."""

from __future__ import annotations

import argparse

from ..launching.settings import finite_positive


def positive(text: str) -> float:
    """A number > 0, or an argparse error naming the bad text."""
    try:
        return finite_positive(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
