"""The watcher -> kernel channel: JSON lines appended to one file in the session's folder.

Job: the watcher appends a message (a stall's diagnosis, a cell's verdict); the kernel's
reader keeps its offset and takes the new complete lines. A file, not a socket: the kernel
must never block on the watcher, and a message survives either side being slow.

Standard library only. Must not import: mlx.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "messages.jsonl"


def append(folder: Path, message: dict) -> None:
    line = json.dumps(message, default=str) + "\n"
    with open(folder / NAME, "a", encoding="utf-8") as stream:
        stream.write(line)


class Inbox:
    """New messages since the last `take()`."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / NAME
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def take(self) -> list[dict]:
        try:
            with open(self.path, "rb") as stream:
                stream.seek(self.offset)
                data = stream.read()
        except OSError:
            return []
        complete = data[:data.rfind(b"\n") + 1]
        self.offset += len(complete)
        out = []
        for line in complete.decode(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


def ready(folder: Path) -> bool:
    return os.path.exists(folder / "ready")
