"""The live progress view while the matrix runs: which variants run, for how long, how far.

Job: a `matrix.Watcher`. On a terminal it keeps a block at the bottom of the screen
(redrawn a few times a second: each running variant's elapsed time, steps so far, last step
time and loss) and prints one line per finished run above it. Not on a terminal (a CI log,
a pipe, TERM=dumb) it prints plain lines only: one when a run starts, one when it ends.
Colour is separate (`ansi.color_wanted`): `--no-color`/NO_COLOR turn it off, not the view.

Must not import: mlx, the runner, the child side.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from . import ansi

FRAME_S = 0.25  # redraw period of the live block
SPINNER = "|/-\\"
DEFAULT_WIDTH = 100


@dataclass
class Slot:
    """What is known of one running variant."""

    name: str
    started: float
    steps: int = 0
    step_ms: float | None = None
    loss: float | None = None


def run_name(spec: object) -> str:
    """"scenario [variant]", plus "run N" for the second and later repeats."""
    repeat = getattr(spec, "repeat", 0) or 0
    again = f" run {repeat + 1}" if repeat else ""
    name = f"{getattr(spec, 'scenario_id', '?')} [{getattr(spec, 'variant', '?')}]{again}"
    return printable(name)


def printable(text: str) -> str:
    """`text` with control characters (escape codes in a scenario's name) shown as '?'."""
    return "".join(c if c.isprintable() else "?" for c in text)


def elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class LiveView:
    """Progress of `total` runs on `stream`; use as a context manager around the matrix."""

    def __init__(self, total: int, stream: TextIO | None = None, color: bool = False,
                 live: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.color = color
        self.live = ansi.is_terminal(self.stream) if live is None else live
        self._clock = clock
        self._began = clock()
        self._slots: dict[int, Slot] = {}
        self._lock = threading.Lock()
        self._drawn = 0  # lines of the live block now on screen
        self._frame = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._animate, name="mlxprobe-live",
                                        daemon=True)

    def __enter__(self) -> LiveView:
        if self.live:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop redrawing and erase the block (finished lines stay)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        with self._lock:
            self._erase()
            self._flush()

    # --- matrix.Watcher ----------------------------------------------------------------

    def started(self, index: int, spec: object) -> None:
        with self._lock:
            self._slots[index] = Slot(run_name(spec), self._clock())
            if self.live:
                self._redraw()
            else:
                self._say(f"{self._slots[index].name}: started ({self._count()})")

    def record(self, index: int, record: dict) -> None:
        if record.get("kind") != "step":
            return
        with self._lock:
            slot = self._slots.get(index)
            if slot is not None:
                slot.steps += 1
                slot.step_ms = _number(record.get("step_s"), 1000.0)
                slot.loss = _number(record.get("loss"), 1.0)

    def finished(self, index: int, outcome: object) -> None:
        with self._lock:
            self._slots.pop(index, None)
            self.done += 1
            self._erase()
            self._say(self.result_line(outcome))
            if self.live:
                self._redraw()

    # --- lines -------------------------------------------------------------------------

    def result_line(self, outcome: object) -> str:
        """One finished run: verdict (coloured by tone), ok or MISMATCH, steps, wall time."""
        raw, verdict, entry = (getattr(outcome, k) for k in ("raw", "verdict", "entry"))
        steps = entry.get("metrics", {}).get("steps", 0)
        where = f"{steps} steps, {raw.wall_s:.1f} s, {self.done}/{self.total} done"
        name = run_name(getattr(outcome, "spec", None))
        if raw.interrupted:
            return f"{name}: interrupted ({where})"
        if entry.get("skipped"):
            return f"{name}: {ansi.paint('skipped', 'warn', self.color)} ({entry['skipped']})"
        ok = getattr(outcome, "matched", False)
        mark = ansi.paint("ok" if ok else "MISMATCH", "good" if ok else "bad", self.color)
        label = ansi.verdict(verdict.label, verdict.kind, self.color)
        return f"{name}: {label} ({mark}, {where})"

    def block(self) -> list[str]:
        """The live block: a header, then one line per running variant."""
        now = self._clock()
        spin = SPINNER[self._frame % len(SPINNER)]
        head = f"{spin} {self._count()}, {elapsed(now - self._began)} elapsed"
        slots = sorted(self._slots.values(), key=lambda s: s.started)
        width = max((len(s.name) for s in slots), default=0)
        return [ansi.paint(head, "dim", self.color), *(_slot_line(s, now, width) for s in slots)]

    def _count(self) -> str:
        return f"{len(self._slots)} running, {self.done}/{self.total} done"

    # --- drawing (callers hold the lock) ---------------------------------------------------

    def _animate(self) -> None:
        while not self._stop.wait(FRAME_S):
            with self._lock:
                self._frame += 1
                self._redraw()

    def _redraw(self) -> None:
        self._erase()
        width = _width(self.stream)
        lines = [_clip(line, width) for line in self.block()]
        self.stream.write("".join(line + "\n" for line in lines))
        self._drawn = len(lines)
        self._flush()

    def _erase(self) -> None:
        if self.live and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _say(self, line: str) -> None:
        self.stream.write(line + "\n")
        self._flush()

    def _flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass


def _slot_line(slot: Slot, now: float, width: int) -> str:
    parts = [f"  {slot.name:<{width}}", f"{now - slot.started:6.1f} s"]
    if not slot.steps:
        parts.append("starting")
    else:
        parts.append(f"{slot.steps} steps")
        if slot.step_ms is not None:
            parts.append(f"{slot.step_ms:.3g} ms/step")
        if slot.loss is not None:
            parts.append(f"loss {slot.loss:.4g}")
    return "  ".join(parts)


def _number(value: object, scale: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value * scale if math.isfinite(value) else float(value)


def _width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_WIDTH
    except (OSError, ValueError, AttributeError):
        return DEFAULT_WIDTH


def _clip(line: str, width: int) -> str:
    """Cut a line to the terminal width (a wrapped line would break the redraw), counting
    only printable characters (colour codes take no room)."""
    visible, out, i = 0, [], 0
    while i < len(line):
        if line[i] == "\x1b":
            end = line.find("m", i)
            out.append(line[i:end + 1] if end >= 0 else "")
            i = end + 1 if end >= 0 else len(line)
            continue
        if visible < width - 1:
            out.append(line[i])
            visible += 1
        i += 1
    return "".join(out)
