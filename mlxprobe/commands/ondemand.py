"""`watch`'s "what is it doing now", on demand: SIGUSR1 to the mlxprobe process prints a live
diagnosis of the watched program without ending the run.

Job: keep the program's recent progress records (teed from the runner's `on_record`, each
stamped when it arrived) and the pid of the process the bootstrap started in (its `start`
record; else the MLX process below mlxprobe); on SIGUSR1 (`kill -USR1 <mlxprobe's pid>`; the
program runs in its own session, so the signal reaches only mlxprobe), or Enter on the
terminal (the program's stdin is not the terminal under watch), start one thread that
looks at it the way `attach` does (`attacher.Session`: non-blocking py-spy looks, RSS, CPU
by thread, one native dump; LOOK_S at most, less once decided) with the heartbeats seen
meanwhile as progress, judges it (`judging.now`) and writes the verdict, reason, fix and the
main thread's stacks above the status line. A second signal while one look runs is ignored.

Must not import: mlx, the inside side.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

import psutil

from ..judging import now
from ..protocol import PROGRESS, START, STEP
from ..watching import attacher, target

LOOK_S = 6.0  # STUCK_S and a look to spare: a stuck program gets its verdict, not "undecided"
KEPT = 4096  # recent progress records


class OnDemand:
    """Install with `with OnDemand(write):` around the run; feed it with `record`."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._recent: deque[dict] = deque(maxlen=KEPT)
        self._pid: int | None = None
        self._busy = threading.Lock()
        self._previous: object = None

    def __enter__(self) -> OnDemand:
        self._previous = signal.signal(signal.SIGUSR1, self._signalled)
        if _terminal(sys.stdin):  # the program's stdin is not the terminal: Enter is ours
            threading.Thread(target=self._keys, args=(sys.stdin,), name="mlxprobe-keys",
                             daemon=True).start()
        return self

    def _keys(self, stream: TextIO) -> None:
        """Enter on the terminal asks for a look, as SIGUSR1 does."""
        for _ in iter(stream.readline, ""):
            self._signalled(signal.SIGUSR1, None)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGUSR1, self._previous)  # type: ignore[arg-type]

    def record(self, record: dict) -> None:
        """The runner's `on_record` (a reader thread): quick, never raises."""
        kind = record.get("kind")
        if kind == START and isinstance(record.get("pid"), int) and self._pid is None:
            self._pid = record["pid"]
        elif kind in (STEP, PROGRESS):
            self._recent.append({**record, "arrived": time.monotonic()})

    def _signalled(self, signum: int, frame: object) -> None:
        if self._busy.acquire(blocking=False):
            threading.Thread(target=self._diagnose, name="mlxprobe-now", daemon=True).start()

    def _diagnose(self) -> None:
        try:
            self._write(self.diagnosis())
        except Exception as exc:  # noqa: BLE001 - a failed look must never end the run
            self._write(f"mlxprobe: the live look failed: {exc}\n")
        finally:
            self._busy.release()

    def diagnosis(self) -> str:
        proc = self._process()
        if proc is None:
            return "mlxprobe: now: the program has not started an MLX process yet\n"
        self._write(f"mlxprobe: looking at process {proc.pid} for up to {LOOK_S:g} s "
                    "(the run goes on) ...\n")
        facts = attacher.Session(proc, target.argv(proc), LOOK_S, self._settled).run()
        facts.records = self._since(facts.started)
        verdict = now.judge(facts)
        return _text(verdict, facts, self._last_beat())

    def _settled(self, facts) -> bool:  # noqa: ANN001
        facts.records = self._since(facts.started)
        return now.settled(facts)

    def _since(self, t: float) -> list[dict]:
        return [{**r, "t": r["arrived"]} for r in list(self._recent) if r["arrived"] >= t]

    def _last_beat(self) -> dict | None:
        return self._recent[-1] if self._recent else None

    def _process(self) -> psutil.Process | None:
        """The bootstrap's process, else the first MLX process below mlxprobe."""
        if self._pid is not None:
            try:
                return psutil.Process(self._pid)
            except psutil.Error:
                return None
        for child in psutil.Process(os.getpid()).children(recursive=True):
            if target.uses_mlx(child.pid):
                return child
        return None


def _terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


def _text(verdict, facts, beat: dict | None) -> str:  # noqa: ANN001
    lines = [f"mlxprobe: now: {verdict.label}: {verdict.reason}"]
    if beat is not None:
        ago = time.monotonic() - beat["arrived"]
        lines.append(f"  last progress: step {beat.get('step')} ({ago:.1f} s ago)")
    if verdict.hint:
        lines.append(f"  fix:   {verdict.hint}")
    main = facts.looks[-1].main(facts.pid) if facts.looks else None
    if main is not None:
        lines.append("  main thread (Python):")
        lines += [f"    {frame.where}" for frame in main.frames[:12]]
    lines.append("  (the run goes on; SIGUSR1 or Enter for another look)")
    return "\n".join(lines) + "\n"
