"""Is a command a native (compiled) program, and which interposer does `watch` start it with?

Job: tell an executable file (ELF, Mach-O) from a script or a Python interpreter (the
Python bootstrap watches those), and give `watch` the interposer library to preload, or the
one line saying why the program runs without it (switched off with `--no-interposer` or
MLXPROBE_NO_INTERPOSER=1, no compiler to build it, a distributed launch).

Must not import: mlx, the inside side.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import build

OFF_ENV = "MLXPROBE_NO_INTERPOSER"
MAGIC = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def executable(argv0: str) -> Path | None:
    found = shutil.which(argv0) if os.sep not in argv0 else argv0
    return Path(found) if found else None


def is_native(argv: list[str]) -> bool:
    """A compiled executable that is not a Python interpreter."""
    path = executable(argv[0]) if argv else None
    if path is None or path.name.startswith(("python", "pypy")):
        return False
    try:
        with open(path, "rb") as stream:
            return stream.read(4) in MAGIC
    except OSError:
        return False


def interposer_for(argv: list[str], off: bool, ranks: int = 1) -> tuple[str | None, str]:
    """(the library to preload, why none) for a watched command; (None, "") when the
    command is not a native program."""
    if not is_native(argv):
        return None, ""
    if off or os.environ.get(OFF_ENV, "") not in ("", "0"):
        return None, "switched off (--no-interposer or MLXPROBE_NO_INTERPOSER=1): progress " \
                     "from output only"
    if ranks > 1:
        return None, "not used for a distributed launch: progress from output only"
    try:
        return str(build.interposer()), ""
    except build.NativeUnavailable as exc:
        return None, f"not built ({exc}): progress from output only"
