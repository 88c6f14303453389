"""The terminal of `mlxprobe watch`: the program's own output, unchanged, and one status line.

Job: write each chunk the program printed to our stdout or stderr as it came (bytes, in the
order read); on a terminal keep one status line below it (step, step time, loss, MLX memory,
time since the last progress), cleared before each chunk and drawn again after a complete
line, refreshed a few times a second. Not on a terminal (a log, a pipe) nothing is added to
the program's lines: no status line at all.

Must not import: mlx, the runner, the inside side.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import BinaryIO

from ..protocol import PROGRESS, STEP
from .live import elapsed, printable

FRAME_S = 0.5
CLEAR = b"\r\x1b[K"
MB = 1024 * 1024


class Console:
    """Passes output on; with `status`, draws the status line on `err`."""

    def __init__(self, out: BinaryIO, err: BinaryIO, status: bool) -> None:
        self._streams = {"stdout": out, "stderr": err}
        self._err = err
        self._status = status
        self._lock = threading.Lock()
        self._drawn = False
        self._started = time.monotonic()
        self._progress_at = self._started
        self._state: dict = {}
        self._stop = threading.Event()

    def __enter__(self) -> Console:
        if self._status:
            threading.Thread(target=self._refresh, name="mlxprobe-status", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._lock:
            self._clear()

    def echo(self, name: str, chunk: bytes) -> None:
        with self._lock:
            self._clear()
            stream = self._streams[name]
            stream.write(chunk)
            stream.flush()
            if chunk.endswith(b"\n"):
                self._draw()

    def record(self, record: dict) -> None:
        if record.get("kind") not in (STEP, PROGRESS):
            return
        self._progress_at = time.monotonic()
        state = self._state
        state["step"] = record.get("step")
        for key in ("step_s", "loss"):
            if isinstance(record.get(key), (int, float)):
                state[key] = record[key]
        active = record.get("memory", {}).get("mx_active")
        if isinstance(active, int):
            state["mx_mb"] = active / MB

    def _refresh(self) -> None:
        while not self._stop.wait(FRAME_S):
            with self._lock:
                self._clear()
                self._draw()

    def line(self) -> str:
        s, now = self._state, time.monotonic()
        parts = [f"mlxprobe {elapsed(now - self._started)}", f"step {s.get('step', '-')}"]
        if "step_s" in s:
            parts.append(f"{s['step_s'] * 1000:.1f} ms/step")
        if "loss" in s:
            parts.append(f"loss {s['loss']:.4g}")
        if "mx_mb" in s:
            parts.append(f"mlx {s['mx_mb']:.0f} MB")
        parts.append(f"last progress {now - self._progress_at:.0f} s ago")
        return printable(" | ".join(parts))

    def _draw(self) -> None:
        if self._status:
            self._err.write(b"\x1b[2m" + self.line().encode()[:200] + b"\x1b[0m")
            self._err.flush()
            self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self._err.write(CLEAR)
            self._err.flush()
            self._drawn = False


def for_terminal(no_status: bool = False) -> Console:
    from .ansi import is_terminal

    status = not no_status and is_terminal(sys.stderr)
    return Console(sys.stdout.buffer, sys.stderr.buffer, status)
