"""Terminal styling: ANSI colour when the stream is a terminal and colour was not refused.

Job: decide whether to colour (a TTY, not `--no-color`, `NO_COLOR` unset or empty, `TERM`
not "dumb") and wrap text in SGR codes. With colour off every function returns plain text.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import os
from typing import TextIO

from .tones import tone

CODES = {"good": "32", "bad": "1;31", "warn": "33", "dim": "2", "bold": "1", "none": "0"}


def is_terminal(stream: TextIO) -> bool:
    """A real terminal that understands escape codes."""
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return interactive and os.environ.get("TERM", "") != "dumb"


def color_wanted(stream: TextIO, no_color: bool = False) -> bool:
    """Colour on: a terminal, no `--no-color`, and NO_COLOR unset or empty (no-color.org)."""
    return not no_color and not os.environ.get("NO_COLOR") and is_terminal(stream)


def paint(text: str, style: str, enabled: bool) -> str:
    if not enabled or style not in CODES or style == "none":
        return text
    return f"\x1b[{CODES[style]}m{text}\x1b[0m"


def verdict(text: str, kind: str | None, enabled: bool) -> str:
    """`text` coloured by the tone of verdict `kind`."""
    return paint(text, tone(kind), enabled)
