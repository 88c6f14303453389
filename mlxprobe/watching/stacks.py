"""Stack capture of a stalled child: Python stacks via faulthandler, native via py-spy.

Job: ask the child for all threads' Python stacks (SIGUSR1, the child's faulthandler writes
them to a file) and, when py-spy is installed, take `py-spy dump --native`. Both are bounded
in time; a failure to get stacks is reported as text, never raised.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..protocol import STACK_SIGNAL

PYTHON_WAIT_S = 1.0
PYSPY_TIMEOUT_S = 20.0
MAX_STACK_CHARS = 64_000


def python_stacks(pids: list[int], folder: Path) -> str:
    """Signal each process that armed its stack dump and collect what each wrote (bounded in
    time). Only processes that said they armed it are signalled: STACK_SIGNAL would end any
    other (a shell, a binary). With several, each dump is headed by its pid."""
    if not pids:
        return "(no Python stacks: no watched process armed its stack dump)"
    dumps = [(pid, _one_dump(pid, folder / f"{pid}.txt")) for pid in pids]
    if len(dumps) == 1:
        return dumps[0][1]
    return "\n".join(f"--- process {pid} ---\n{text}" for pid, text in dumps)[-MAX_STACK_CHARS:]


def _one_dump(pid: int, path: Path) -> str:
    before = path.stat().st_size if path.exists() else 0
    try:
        os.kill(pid, STACK_SIGNAL)
    except ProcessLookupError:
        return "(process already gone: no Python stacks)"
    end = time.monotonic() + PYTHON_WAIT_S
    text = ""
    while time.monotonic() < end:
        time.sleep(0.05)
        text = _since(path, before)
        if text and _settled(path, before, text):
            break
    return text[-MAX_STACK_CHARS:] or "(no Python stacks: the child did not answer SIGUSR1)"


def _since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            return stream.read().decode(errors="replace")
    except OSError:
        return ""


def _settled(path: Path, offset: int, text: str) -> bool:
    """The dump stopped growing (faulthandler writes it in one go, thread by thread)."""
    time.sleep(0.05)
    return _since(path, offset) == text


def native_stacks(pid: int) -> str:
    """`py-spy dump --native` of the child, or why there are none."""
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        return "(py-spy not installed: pip install py-spy for native stacks)"
    try:
        done = subprocess.run([pyspy, "dump", "--native", "--pid", str(pid)],
                              capture_output=True, text=True, timeout=PYSPY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"(py-spy dump timed out after {PYSPY_TIMEOUT_S:.0f} s)"
    except OSError as exc:
        return f"(py-spy failed to start: {exc})"
    text = done.stdout if done.returncode == 0 else f"(py-spy failed: {done.stderr.strip()})"
    return text[-MAX_STACK_CHARS:]
