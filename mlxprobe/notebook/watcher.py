"""The notebook watcher: a process outside the Jupyter kernel that watches its cells.

Job: `python -m mlxprobe.notebook.watcher KERNEL_PID DIR` (started by `magic`). It reads the
agent's records from DIR/records.fifo (heartbeats, cell start/end, a cell's error), samples
the kernel from outside (`Sampler`), and while a watched cell runs applies `watch`'s step
deadline (max(FLOOR_S, FACTOR x the cell's recent step interval) without a heartbeat);
past it, it looks at the kernel as `attach` does (`attacher.Session`, at most LOOK_S) and,
unless the look shows progress, appends the diagnosis to DIR/messages.jsonl for the cell's
output. At a cell's end it appends the cell's verdict (`classify` over the cell's records
and samples). It never signals the kernel; it ends when the kernel does.

Must not import: mlx.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil

from ..inside.notebook import CELL, CELL_END
from ..judging import now
from ..judging.rule import Verdict
from ..judging.verdict import classify
from ..packing import Block
from ..protocol import ERROR, STEP
from ..watching import attacher, counters, target
from ..watching.facts import RawResult
from ..watching.records import RecordReader
from ..watching.sampler import Sampler
from . import messages

FLOOR_S, FACTOR = 5.0, 10.0  # watch's step floor and factor (commands/watch.py)
LOOK_S = 8.0
TICK_S = 0.25
MB = 1024 * 1024


class CellWatch:
    """What the watcher knows of the kernel's cells."""

    def __init__(self, pid: int, folder: Path, sampler: Sampler) -> None:
        self.pid, self.folder, self.sampler = pid, folder, sampler
        self.cell: dict | None = None  # the watched cell running now
        self.records: list[dict] = []  # the running cell's records (t: when they arrived)
        self.reported: float | None = None  # the last beat a stall was reported after
        self.stalls: dict[object, str] = {}  # cell count -> the stall reported in it
        self.lock = threading.Lock()

    def add(self, items: list) -> None:
        arrived = time.monotonic()
        for item in items:
            for record in item.records() if type(item) is Block else (item,):
                self._one({**record, "t": arrived})

    def _one(self, record: dict) -> None:
        kind = record.get("kind")
        with self.lock:
            if kind == CELL:
                self.cell = record if record.get("watched", True) else None
                self.records, self.reported = [], None
            elif kind == CELL_END and self.cell is not None:
                cell, records = self.cell, self.records
                self.cell = None
                threading.Thread(target=self._verdict, args=(cell, records, record),
                                 daemon=True).start()
            elif self.cell is not None and kind in (STEP, ERROR, "progress", "check", "note"):
                self.records.append(record)

    def tick(self) -> None:
        with self.lock:
            cell, beats = self.cell, [r["t"] for r in self.records if r.get("kind") == STEP]
        if cell is None:
            return
        last = beats[-1] if beats else cell["t"]
        gaps = [b - a for a, b in zip(beats[-21:], beats[-20:])]
        deadline = max(FLOOR_S, FACTOR * statistics.median(gaps)) if gaps else FLOOR_S
        if time.monotonic() - last > deadline and self.reported != last:
            self.reported = last
            self._stall(cell, last)

    def _stall(self, cell: dict, last: float) -> None:
        proc = psutil.Process(self.pid)
        facts = attacher.Session(proc, target.argv(proc), LOOK_S, now.settled).run()
        with self.lock:
            facts.records = [r for r in self.records if r["t"] >= facts.started]
        verdict = now.judge(facts)
        if verdict.kind in ("progressing", "finished"):
            return
        self.stalls[cell.get("count")] = verdict.label
        main = facts.looks[-1].main(self.pid) if facts.looks else None
        messages.append(self.folder, {
            "type": "stall", "cell": cell.get("count"), "label": verdict.label,
            "reason": verdict.reason, "hint": verdict.hint,
            "stalled_s": time.monotonic() - last,
            "python": [f.where for f in counters.program_frames(main.frames)] if main else [],
            "native": _main_native(facts.native_stacks, self.pid)})

    def _verdict(self, cell: dict, records: list[dict], end: dict) -> None:
        start = cell["t"]
        samples = [s for s in self.sampler.samples.retained() if s.t >= start]
        raw = RawResult(records=[cell, *records], samples=samples, exit_code=0, watched=True,
                        started=start, wall_s=end["t"] - start)
        verdict = _interrupted(records, self.stalls.get(cell.get("count"))) or classify(raw, {})
        steps = [r for r in records if r.get("kind") == STEP]
        span = steps[-1]["t"] - steps[0]["t"] if len(steps) > 1 else 0.0
        messages.append(self.folder, {
            "type": "verdict", "cell": cell.get("count"), "label": verdict.label,
            "reason": verdict.reason, "hint": verdict.hint, "steps": raw.step_count,
            "step_ms": round(1000 * span / (len(steps) - 1), 2) if span else None,
            "peak_rss_mb": round(max((s.rss for s in samples), default=0) / MB, 1),
            "wall_s": round(end["t"] - start, 2)})


def _interrupted(records: list[dict], stall: str | None) -> Verdict | None:
    """A cell the user interrupted (the kernel's own interrupt): said as such, with the stall
    mlxprobe had reported in it."""
    if not any(r.get("kind") == ERROR and r.get("type") == "KeyboardInterrupt"
               for r in records):
        return None
    seen = f" after mlxprobe reported {stall}" if stall else ""
    return Verdict("interrupted", "", f"the cell was interrupted{seen}; the kernel lives on")


def _main_native(text: str, pid: int) -> list[str]:
    """The main thread's native frames from a py-spy dump; its message when it has none."""
    if not text.lstrip().startswith(("Process", "Thread")):
        return [text.strip()[:300]] if text.strip() else []
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("Thread "):
            inside = line.startswith(f"Thread {pid} ")
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def main(argv: list[str]) -> int:
    pid, folder = int(argv[0]), Path(argv[1])
    if os.fork() > 0:  # leave the kernel's tree: its samples must not count the watcher
        os._exit(0)
    (folder / "watcher.pid").write_text(str(os.getpid()))
    fifo = folder / "records.fifo"
    read_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    os.set_blocking(read_fd, True)
    hold = os.open(fifo, os.O_WRONLY)  # a writer always open: no EOF between the agent's
    sampler = Sampler(pid, 0.1)
    watch = CellWatch(pid, folder, sampler)
    RecordReader(read_fd, watch.add, 0.1).start()
    sampler.start()
    (folder / "ready").touch()
    while _alive(pid):
        watch.tick()
        time.sleep(TICK_S)
    os.close(hold)
    shutil.rmtree(folder, ignore_errors=True)  # the kernel is gone: nobody reads it again
    return 0


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
