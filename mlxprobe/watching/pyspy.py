"""One look at a running Python process from outside: `py-spy dump --json --locals
--nonblocking`, parsed into each thread's frames and the main thread's integer locals.

Job: run py-spy in its non-blocking mode (it reads the process's memory while the process
runs on: the process is never stopped, so a look costs the process nothing but a copy of
some of its pages), bounded in time, and turn its JSON into plain data: threads with their
frames (function, file, line, active), the main thread's integer locals per frame (the step
counters `counters` looks for), and a text rendering like `py-spy dump`. A failure (not a
Python process, no permission, gone) is a `LookError` carrying py-spy's own words.

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field

TIMEOUT_S = 20.0
INT_REPR = r"-?\d+"


class LookError(RuntimeError):
    """py-spy could not read the process; the message is py-spy's, on one line. `lasting`:
    asking again cannot help (py-spy missing, not a Python process, no permission); else
    the failure is one look's (a non-blocking read raced the running interpreter: "Failed
    to get stack traces", seen under load) and the next look may succeed."""

    def __init__(self, message: str, lasting: bool = False) -> None:
        super().__init__(message)
        self.lasting = lasting


LASTING = ("permission denied", "operation not permitted", "no such process")


@dataclass(frozen=True)
class Frame:
    name: str
    file: str
    line: int
    ints: dict[str, int] = field(default_factory=dict)  # integer locals, by name

    @property
    def where(self) -> str:
        return f"{self.name} ({self.file}:{self.line})"


@dataclass(frozen=True)
class Thread:
    tid: int
    name: str
    active: bool
    frames: tuple[Frame, ...]  # innermost first, as py-spy gives them


@dataclass(frozen=True)
class Look:
    t: float  # monotonic, when the look was asked for
    threads: tuple[Thread, ...]
    wall_s: float  # how long py-spy took

    def main(self, pid: int) -> Thread | None:
        """The main thread: the one whose OS id is the pid (else py-spy's "MainThread")."""
        for thread in self.threads:
            if thread.tid == pid:
                return thread
        return next((t for t in self.threads if t.name == "MainThread"), None)

    def whole(self) -> bool:
        """The main thread's stack reaches a module level (`<module>`): a read without
        pausing the process can catch the frame chain mid-change and end it early (seen
        under load: a main thread of one frame, `Adam.apply_single`)."""
        main = next((t for t in self.threads if t.name == "MainThread"), None)
        return main is None or any(frame.name == "<module>" for frame in main.frames)

    def text(self) -> str:
        """Every thread's Python stack, `py-spy dump`'s layout."""
        parts = []
        for thread in self.threads:
            state = "active" if thread.active else "idle"
            parts.append(f'Thread {thread.tid} ({state}): "{thread.name}"')
            parts += [f"    {frame.where}" for frame in thread.frames]
        return "\n".join(parts) + "\n"


def available() -> str | None:
    return shutil.which("py-spy")


def look(pid: int) -> Look:
    """One non-blocking look with locals; LookError when py-spy cannot read the process."""
    tool = available()
    if tool is None:
        raise LookError("py-spy is not installed: pip install py-spy", lasting=True)
    start = time.monotonic()
    try:
        done = subprocess.run([tool, "dump", "--pid", str(pid), "--json", "--locals",
                               "--nonblocking"], capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LookError(f"py-spy dump took over {TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        text = (done.stderr or done.stdout).strip()
        first = text.splitlines()[0].removeprefix("Error: ").strip() if text else ""
        if "python version" in first.lower():
            raise LookError(f"not a Python process (py-spy: {first})", lasting=True)
        raise LookError(first[:300] or f"py-spy exited {done.returncode}",
                        lasting=any(w in first.lower() for w in LASTING))
    return Look(start, parse(done.stdout), time.monotonic() - start)


def parse(text: str) -> tuple[Thread, ...]:
    """py-spy's JSON dump (a list of threads) as `Thread`s; () when it holds none."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return ()
    return tuple(_thread(item) for item in data if isinstance(item, dict))


def _thread(item: dict) -> Thread:
    frames = tuple(_frame(f) for f in item.get("frames") or [] if isinstance(f, dict))
    return Thread(int(item.get("os_thread_id") or item.get("thread_id") or 0),
                  str(item.get("thread_name") or ""), bool(item.get("active")), frames)


def _frame(item: dict) -> Frame:
    ints = {}
    for local in item.get("locals") or []:
        shown = str(local.get("repr", ""))
        if shown.lstrip("-").isdigit() and len(shown) < 19:
            ints[str(local.get("name"))] = int(shown)
    return Frame(str(item.get("name", "?")), str(item.get("filename", "?")),
                 int(item.get("line") or 0), ints)
