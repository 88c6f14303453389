"""The program's stdout and stderr: drained to EOF on a thread, never blocking the program.

Job: keep the last TAIL_BYTES of a stream; optionally pass every chunk on unchanged (`echo`,
for `watch`: the user still sees their own log) and hand each complete line to `on_line`
(progress parsing). A line longer than MAX_LINE is handed on cut.

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

TAIL_BYTES = 64 * 1024
MAX_LINE = 8 * 1024


class StreamReader(threading.Thread):
    """Drains a binary stream to EOF, keeping only the last TAIL_BYTES."""

    def __init__(self, stream, echo: Callable[[bytes], None] | None = None,  # noqa: ANN001
                 on_line: Callable[[str], None] | None = None) -> None:
        super().__init__(name="mlxprobe-stream", daemon=True)
        self._stream = stream
        self._echo = echo
        self._on_line = on_line
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._partial = b""

    def run(self) -> None:
        while chunk := self._stream.read1(TAIL_BYTES):
            if self._echo is not None:
                self._echo(chunk)
            self._keep(chunk)
            if self._on_line is not None:
                self._lines(chunk)
        self._stream.close()

    def _keep(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        while self._size - len(self._chunks[0]) >= TAIL_BYTES:
            self._size -= len(self._chunks.popleft())

    def _lines(self, chunk: bytes) -> None:
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        self._partial = self._partial[-MAX_LINE:]
        for line in lines:
            try:
                self._on_line(line[-MAX_LINE:].decode("utf-8", errors="replace"))
            except Exception:  # noqa: BLE001 - a parser bug must not stop the draining
                continue

    def text(self) -> str:
        return b"".join(self._chunks)[-TAIL_BYTES:].decode("utf-8", errors="replace")
