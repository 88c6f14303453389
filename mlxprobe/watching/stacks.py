"""Stack capture of a stalled child: Python stacks via faulthandler, native via py-spy.

Job: ask the child for all threads' Python stacks (SIGUSR1, the child's faulthandler writes
them to a file) and take the native stacks: `py-spy dump --native` where py-spy is installed
(Linux); on macOS, where py-spy's native mode is not supported (and needs root), the
system's own `sample PID 1` (one second of samples, its call graph kept). Both are bounded
in time; a failure to get stacks is reported as text, never raised.

Must not import: mlx, the child side.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..protocol import STACK_SIGNAL

PYTHON_WAIT_S = 1.0
PYSPY_TIMEOUT_S = 20.0
SAMPLE_S = 1  # `sample PID 1`: one second of samples (macOS)
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


def macos() -> bool:
    """The platform check (a function, so that tests can take the macOS path on Linux)."""
    return sys.platform == "darwin"


def native_stacks(pid: int, timeout_s: float = PYSPY_TIMEOUT_S) -> str:
    """`py-spy dump --native` of the child (macOS: `sample`), or why there are none."""
    if macos():
        return sample_stacks(pid)
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        return "(py-spy not installed: pip install py-spy for native stacks)"
    try:
        done = subprocess.run([pyspy, "dump", "--native", "--pid", str(pid)],
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"(py-spy dump timed out after {timeout_s:.0f} s)"
    except OSError as exc:
        return f"(py-spy failed to start: {exc})"
    text = done.stdout if done.returncode == 0 else f"(py-spy failed: {done.stderr.strip()})"
    return text[-MAX_STACK_CHARS:]


def sample_stacks(pid: int) -> str:
    """macOS's `sample PID 1 -mayDie -file F`: every thread's native call graph over one
    second (the process is suspended for microseconds at a time, never stopped), condensed."""
    tool = shutil.which("sample")
    if tool is None:
        return "(no native stacks: macOS's `sample` tool was not found)"
    with tempfile.TemporaryDirectory(prefix="mlxprobe-sample-") as folder:
        out = os.path.join(folder, "sample.txt")
        try:
            done = subprocess.run([tool, str(pid), str(SAMPLE_S), "-mayDie", "-file", out],
                                  capture_output=True, text=True,
                                  timeout=PYSPY_TIMEOUT_S + SAMPLE_S)
        except subprocess.TimeoutExpired:
            return f"(sample timed out after {PYSPY_TIMEOUT_S + SAMPLE_S:.0f} s)"
        except OSError as exc:
            return f"(sample failed to start: {exc})"
        try:
            with open(out, encoding="utf-8", errors="replace") as stream:
                text = stream.read()
        except OSError:
            text = ""
    if not text:
        return f"(sample failed: {(done.stderr or done.stdout).strip()[-500:]})"
    return condense_sample(text)[-MAX_STACK_CHARS:]


_ADDRESS = re.compile(r"\s+\[0x[0-9a-f]+(,0x[0-9a-f]+)*\]|\s+\+ \d+(?=\s|$)")


def condense_sample(text: str) -> str:
    """The call graph of a `sample` report (its header's process line, then each thread's
    tree, counts kept), without addresses and offsets; the report itself when it holds no
    call graph."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Call graph:"))
    except StopIteration:
        return text
    head = [line for line in lines[:start] if line.startswith(("Process:", "Analysis of"))]
    graph = []
    for line in lines[start:]:
        if line.startswith(("Total number in stack", "Sort by top of stack", "Binary Images")):
            break
        graph.append(_ADDRESS.sub("", line.rstrip()))
    return "\n".join(head + graph).rstrip() + "\n"
