"""Progress from a running program's output, read from outside where its stdout or stderr is
a file: the same `output.ProgressParser` `watch` uses, on the lines written while we look.

Job: find where the process's fd 1 and 2 point (/proc/PID/fd, Linux; psutil's open files
elsewhere cannot name fds 1 and 2, so there is no output source there), and, for a regular
file, read what is appended after we start (and the tail already there, for the last step
printed before we looked). A pipe or a terminal is never read: reading a pipe would take the
lines away from its reader, which changes what the program's user sees.

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import os
import stat
import time

from .output import ProgressParser

TAIL_BYTES = 64 * 1024  # of what was written before: enough for the last progress lines


def target(pid: int, fd: int) -> tuple[str | None, str]:
    """(a readable regular file the fd points at or None, what it is in words)."""
    link = f"/proc/{pid}/fd/{fd}"
    try:
        where = os.readlink(link)
        mode = os.stat(link).st_mode
    except OSError as exc:
        return None, f"fd {fd} unreadable ({exc.strerror or exc})"
    if stat.S_ISREG(mode) and os.access(link, os.R_OK):
        return where, where
    kind = "a pipe" if stat.S_ISFIFO(mode) else "a terminal" if stat.S_ISCHR(mode) else where
    return None, f"{kind} (not read: only a regular file can be read without taking lines)"


class OutputFile:
    """One output file's new lines as progress records (`t` stamped when read)."""

    def __init__(self, path: str, parser: ProgressParser) -> None:
        self.path, self.parser = path, parser
        self.records: list[dict] = []
        self.before: list[dict] = []  # progress printed before we looked (no time known)
        self.lines = 0
        self._partial = b""
        size = os.path.getsize(path)
        self.modified_ago = max(0.0, time.time() - os.path.getmtime(path))
        with open(path, "rb") as stream:
            stream.seek(max(0, size - TAIL_BYTES))
            old = stream.read(size - stream.tell())
        self.before = [r for r in map(parser.parse, _lines(old)) if r is not None]
        self._offset = size

    def read(self) -> None:
        """Parse what was appended since the last read."""
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except OSError:
            return
        self._offset += len(chunk)
        data = self._partial + chunk
        complete, _, self._partial = data.rpartition(b"\n")
        now = time.monotonic()
        for line in _lines(complete):
            self.lines += 1
            record = self.parser.parse(line)
            if record is not None:
                record["t"] = now
                self.records.append(record)


def _lines(data: bytes) -> list[str]:
    return [line for line in data.decode(errors="replace").splitlines() if line.strip()]
