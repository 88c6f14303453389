"""The kernel side of mlxprobe in a notebook: `%load_ext mlxprobe`, `%%mlxprobe`, `%mlxprobe on`.

Job: on first use, start the watcher (`python -m mlxprobe.notebook.watcher KERNEL_PID DIR`:
a process outside the kernel that reads the heartbeats, samples the kernel and looks at it
with py-spy on a stall), connect the bootstrap's agent (`inside.agent`: heartbeats from
`mx.eval` and optimizer updates, no signal handlers, no lifeline: the kernel is never ended
by mlxprobe) to its FIFO, and mark cells (`inside.notebook.watch_cells`). While a watched
cell runs, a thread started in that cell (so ipykernel routes its output there) prints the
watcher's stall diagnosis into the cell's output; the cell runs on and the kernel's own
interrupt still works (nothing here touches SIGINT). After the cell, a compact verdict block
(an HTML table in Jupyter, text elsewhere).

`%%mlxprobe` watches one cell; `%mlxprobe on` / `%mlxprobe off` every cell; `%mlxprobe
status` says what runs. Must not import: mlx (the agent hooks its import).
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..protocol import RECORD_PATH_ENV
from . import messages

READY_S = 30.0  # the watcher imports psutil and the verdict code: seconds when loaded
VERDICT_WAIT_S = 5.0  # after a cell, how long to wait for its verdict block
POLL_S = 0.5


class Session:
    """One per kernel: the watcher process, the agent, the cell events."""

    def __init__(self, shell: object) -> None:
        self.shell = shell
        self.always = False
        self.folder = Path(tempfile.mkdtemp(prefix="mlxprobe-nb-"))
        self.watcher = self._start_watcher()
        self._connect_agent()
        self._printer: threading.Event | None = None

    def _start_watcher(self) -> int:
        os.mkfifo(self.folder / "records.fifo", 0o600)
        log = open(self.folder / "watcher.log", "w")  # noqa: SIM115 - the child holds it
        first = subprocess.Popen([sys.executable, "-m", "mlxprobe.notebook.watcher",
                                  str(os.getpid()), str(self.folder)], stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=log, start_new_session=True)
        first.wait(timeout=READY_S)  # it forks the watcher (outside the kernel's tree), exits
        end = time.monotonic() + READY_S
        while not messages.ready(self.folder):
            if time.monotonic() > end:
                raise RuntimeError(f"mlxprobe's watcher did not start: see {log.name}")
            time.sleep(0.05)
        return int((self.folder / "watcher.pid").read_text())

    def _connect_agent(self) -> None:
        from ..inside import agent, notebook

        os.environ[RECORD_PATH_ENV] = str(self.folder / "records.fifo")
        try:
            agent.start()
            probe = agent.shared()
        finally:
            os.environ.pop(RECORD_PATH_ENV, None)  # the kernel's own subprocesses: unwatched
        notebook.watch_cells(probe, self.shell, self.watched)
        self.shell.events.register("pre_run_cell", self._before)  # type: ignore[attr-defined]
        self.shell.events.register("post_run_cell", self._after)  # type: ignore[attr-defined]

    def watched(self, source: str) -> bool:
        return self.always or source.lstrip().startswith("%%mlxprobe")

    def _before(self, info: object) -> None:
        if not self.watched(str(getattr(info, "raw_cell", "") or "")):
            return
        self._printer = threading.Event()
        inbox = messages.Inbox(self.folder)
        threading.Thread(target=_print_stalls, args=(inbox, self._printer),
                         name="mlxprobe-stalls", daemon=True).start()
        self._inbox = messages.Inbox(self.folder)

    def _after(self, result: object) -> None:
        if self._printer is None:
            return
        self._printer.set()
        self._printer = None
        count = getattr(getattr(result, "info", None), "cell_id", None)
        verdict = self._verdict(count)
        if verdict is not None:
            _show(verdict)

    def _verdict(self, _cell_id: object) -> dict | None:
        end = time.monotonic() + VERDICT_WAIT_S
        while time.monotonic() < end:
            for message in self._inbox.take():
                if message.get("type") == "verdict":
                    return message
            time.sleep(0.1)
        return None

    def status(self) -> str:
        alive = os.path.exists(f"/proc/{self.watcher}") if sys.platform == "linux" else True
        return (f"mlxprobe: watcher {self.watcher} {'running' if alive else 'gone'}; "
                f"{'every cell' if self.always else '%%mlxprobe cells'} watched; {self.folder}")


def _print_stalls(inbox: messages.Inbox, done: threading.Event) -> None:
    """In the watched cell's context: its output lands in that cell."""
    while not done.wait(POLL_S):
        for message in inbox.take():
            if message.get("type") == "stall":
                print(stall_text(message), flush=True)


def stall_text(m: dict) -> str:
    lines = [f"mlxprobe: cell [{m.get('cell')}] has made no progress for "
             f"{m.get('stalled_s', 0):.1f} s: {m.get('label')}", f"  {m.get('reason')}"]
    if m.get("hint"):
        lines.append(f"  fix: {m['hint']}")
    lines += ["  main thread (Python):", *(f"    {f}" for f in m.get("python", []))]
    if m.get("native"):
        lines += ["  main thread (native):", *(f"    {f}" for f in m["native"][:12])]
    lines.append("  (the cell runs on: interrupt the kernel to stop it)")
    return "\n".join(lines)


ROWS = (("verdict", "label"), ("reason", "reason"), ("steps", "steps"),
        ("step ms", "step_ms"), ("peak RSS MB", "peak_rss_mb"), ("wall s", "wall_s"),
        ("fix", "hint"))


def _show(verdict: dict) -> None:
    from IPython.display import display

    rows = [(name, verdict.get(key)) for name, key in ROWS if verdict.get(key) not in (None, "")]
    text = "\n".join(f"mlxprobe {name}: {value}" for name, value in rows)
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
                    f"<td style='text-align:left'>{html.escape(str(value))}</td></tr>"
                    for name, value in rows)
    display({"text/plain": text, "text/html": f"<table>{cells}</table>"}, raw=True)


def session(shell: object) -> Session:
    found = getattr(shell, "_mlxprobe_session", None)
    if found is None:
        found = Session(shell)
        shell._mlxprobe_session = found  # type: ignore[attr-defined]
    return found


def register(shell: object) -> None:
    """`%load_ext mlxprobe`: the `mlxprobe` line and cell magic; the watcher starts now, so
    the cell events of the very next cell are seen."""
    session(shell)

    def mlxprobe(line: str, cell: str | None = None) -> object:
        watcher = session(shell)
        if cell is None:
            word = line.strip()
            if word in ("on", "off"):
                watcher.always = word == "on"
            print(watcher.status())
            return None
        # the cell body runs as the cell itself would (no nested run_cell: its events
        # would mark a second cell); an exception goes to IPython as the cell's own
        shell.ex(shell.transform_cell(cell))  # type: ignore[attr-defined]
        return None

    shell.register_magic_function(mlxprobe, "line_cell", "mlxprobe")  # type: ignore[attr-defined]
