"""Argument types shared by the subcommands. Must not import: mlx."""

from __future__ import annotations

import argparse


def positive(text: str) -> float:
    """A number > 0, or an argparse error naming the bad text."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value
