"""A Python traceback's frames: where an exception passed, told user code from library code.

Job: `frames(text)` reads the last traceback in `text` (a stderr tail or an error record's
`traceback`) into `Frame`s: file, line, function and the source line Python printed. A
frame is a library's when its file lies in an installed package (`site-packages`,
`dist-packages`, the standard library, a frozen module) or in mlxprobe itself (the watch's
own hooks); every other frame is the user's. `user_frame` is the innermost user frame:
the line of the program that raised, or that called the library that did. `passed` names
the library functions the exception came through (`mlx.nn.layers.base.load_weights`).

Written by hand: the standard library's `traceback` module formats tracebacks but does not
parse printed ones. Pure functions. Must not import: mlx, the watching side.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HEAD = "Traceback (most recent call last):"
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)\s*$')
CARETS = re.compile(r"^\s*[~^]+\s*$")
INSTALLED = re.compile(r"[/\\](?:site-packages|dist-packages|lib[/\\]python\d[\d.]*)[/\\]")
OWN = str(Path(__file__).resolve().parents[1])  # mlxprobe's own package folder
# the last line of a printed exception: `TypeError: value_and_grad() got an unexpected ...`
EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Frame:
    path: str
    line: int
    function: str
    text: str  # the source line, stripped ("" when Python could not read it)

    @property
    def library(self) -> bool:
        return (self.path.startswith("<") or bool(INSTALLED.search(self.path))
                or self.path.startswith(OWN))

    @property
    def module(self) -> str:
        """`mlx.nn.layers.base` for a file under site-packages; the file's stem otherwise."""
        parts = re.split(r"[/\\](?:site-packages|dist-packages)[/\\]", self.path)
        tail = parts[-1] if len(parts) > 1 else Path(self.path).name
        return tail.removesuffix(".py").removesuffix("/__init__").replace("/", ".")

    @property
    def where(self) -> str:
        return f"{Path(self.path).name}:{self.line}"


def frames(text: str) -> list[Frame]:
    """The frames of the last traceback in `text`, outermost first; [] when there is none."""
    if HEAD not in text:
        return []
    lines = text[text.rindex(HEAD) + len(HEAD):].splitlines()
    out = []
    for at, line in enumerate(lines):
        found = FRAME.match(line)
        if found:
            out.append(Frame(found["path"], int(found["line"]), found["func"],
                             _source(lines[at + 1:at + 2])))
    return out


def _source(after: list[str]) -> str:
    """The source line printed under a frame, if the next line is one."""
    if not after or FRAME.match(after[0]) or CARETS.match(after[0]):
        return ""
    line = after[0]
    return line.strip() if line.startswith("    ") else ""


def user_frame(found: list[Frame]) -> Frame | None:
    """The innermost frame of the user's own code, or None."""
    for frame in reversed(found):
        if not frame.library:
            return frame
    return None


def passed(found: list[Frame], prefix: str = "mlx.") -> list[str]:
    """`module.function` of each library frame whose module starts with `prefix`,
    innermost first."""
    names = [f"{f.module}.{f.function}" for f in reversed(found) if f.library]
    return [name for name in names if name.startswith(prefix)]


# a line a logger wrote at level ERROR (`ERROR harbour_lm: Error in batch 17: Invalid axis 1
# for array with 1 dimensions.`, `ERROR:root:...`): an exception's message logged without its
# type, as `logger.error(f"... {e}")` in an `except` leaves it (fresh272
# `quayside_skiff_lengths`: 720 such lines, one a batch, and no update)
LOGGED_ERROR = re.compile(r"^(?:\S+\s+){0,2}?(?:ERROR|CRITICAL)\b[ :][^\n]*?:\s*(.+)$",
                          re.MULTILINE)
DIGITS = re.compile(r"\d+")


def most_printed_error(text: str) -> tuple[str, int] | None:
    """The exception line `text` (a stderr tail) printed most often, and how often, or None
    when it printed none: what a program that catches its step's errors and goes on
    (`except Exception: print(...)`) leaves behind. Where no exception line was printed, the
    error a logger wrote most often, its numbers (a batch's index) read as one."""
    counted = Counter(f"{kind}: {message.strip()}"
                      for kind, message in EXCEPTION_LINE.findall(text))
    if counted:
        return counted.most_common(1)[0]
    logged: Counter[str] = Counter()
    first: dict[str, str] = {}  # each pattern's first message, as printed
    for message in (m.strip() for m in LOGGED_ERROR.findall(text)):
        pattern = DIGITS.sub("#", message)
        logged[pattern] += 1
        first.setdefault(pattern, message)
    if not logged:
        return None
    pattern, times = logged.most_common(1)[0]
    return first[pattern], times

