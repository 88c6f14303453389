"""Stack capture of a stalled child: Python stacks on request, native via py-spy (a
compiled program: eu-stack or gdb, `debugger`).

Job: ask each process that armed its stack dump for all threads' Python stacks (a byte
written to its FIFO, answered by its `inside.answerer` thread into a file; no signal: see
that module for why a signal can end or change the program) and take the native stacks:
`py-spy dump --native` where py-spy is installed (Linux); on macOS, where py-spy's native
mode is not supported (and needs root), the system's own `sample PID 1` (one second of
samples, its call graph kept). A process that does not answer (a thread holds its GIL, or
it is shutting down) has its Python stacks read from outside by `py-spy dump --nonblocking`
where it works. All bounded in time; a failure to get stacks is reported as text, never
raised. The native dump attaches with ptrace (py-spy pauses the threads for the dump: a
stop, never an end; taken only once a deadline was missed): the one touch of the program
left, and the reason the Python stacks are not taken that way.

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

from ..protocol import stacks_file, stacks_request
from . import debugger

PYTHON_WAIT_S = 1.0
PYSPY_TIMEOUT_S = 20.0
SAMPLE_S = 1  # `sample PID 1`: one second of samples (macOS)
MAX_STACK_CHARS = 64_000


def python_stacks(pids: list[int], folder: Path) -> str:
    """Ask each process that armed its stack dump and collect what each wrote (bounded in
    time). With several, each dump is headed by its pid."""
    if not pids:
        return "(no Python stacks: no watched process armed its stack dump)"
    dumps = [(pid, _one_dump(pid, folder)) for pid in pids]
    if len(dumps) == 1:
        return dumps[0][1]
    return "\n".join(f"--- process {pid} ---\n{text}" for pid, text in dumps)[-MAX_STACK_CHARS:]


def _one_dump(pid: int, folder: Path) -> str:
    path = Path(stacks_file(str(folder), pid))
    before = path.stat().st_size if path.exists() else 0
    if not ask(stacks_request(str(folder), pid)):
        return "(no Python stacks: the process is not listening: it ended or exec'd)"
    end = time.monotonic() + PYTHON_WAIT_S
    text = ""
    while time.monotonic() < end:
        time.sleep(0.05)
        text = _since(path, before)
        if text and _settled(path, before, text):
            break
    return text[-MAX_STACK_CHARS:] or pyspy_python_stacks(pid)


def ask(fifo: str) -> bool:
    """Write one request byte to a process's FIFO; False when no process listens on it (no
    reader: ENXIO; never made: ENOENT). Never blocks."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, b"?")
    except BlockingIOError:
        pass  # the FIFO is full of unanswered requests: one more is not needed
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def pyspy_python_stacks(pid: int) -> str:
    """A process that did not answer (a thread holds its GIL, or it is shutting down): its
    Python stacks read from outside by `py-spy dump --nonblocking` (memory reads only: the
    process is not even paused), in the answerer's layout."""
    unanswered = f"(no Python stacks: the process did not answer within {PYTHON_WAIT_S:.0f} s"
    pyspy = shutil.which("py-spy")
    if pyspy is None or macos():
        return unanswered + "; py-spy could not read them from outside)"
    try:
        done = subprocess.run([pyspy, "dump", "--nonblocking", "--full-filenames", "--pid",
                               str(pid)],
                              capture_output=True, text=True, timeout=PYSPY_TIMEOUT_S)
    except (subprocess.TimeoutExpired, OSError):
        done = None
    text = from_pyspy(done.stdout) if done is not None and done.returncode == 0 else ""
    return text[-MAX_STACK_CHARS:] or unanswered + "; py-spy could not read them either)"


_PYSPY_THREAD = re.compile(r'^Thread (0x[0-9a-fA-F]+|\d+) \(([^)]*)\)(?:: "(.*)")?')
_PYSPY_FRAME = re.compile(r"^ {4}(\S.*) \((.+):(\d+)\)$")


def from_pyspy(text: str) -> str:
    """`py-spy dump` output in the answerer's (faulthandler's) layout: "Main thread 0x..."
    for the thread py-spy names MainThread, one `File "f", line N in func` a frame."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        thread = _PYSPY_THREAD.match(line)
        frame = _PYSPY_FRAME.match(line)
        if thread:
            ident = int(thread[1], 0)
            head = "Main thread" if thread[3] == "MainThread" else "Thread"
            blocks.append([f"{head} 0x{ident:016x} (py-spy, most recent call first):"])
        elif frame and blocks:
            blocks[-1].append(f'  File "{frame[2]}", line {frame[3]} in {frame[1]}')
    return "\n\n".join("\n".join(b) for b in blocks) + "\n" if blocks else ""


def _since(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            return stream.read().decode(errors="replace")
    except OSError:
        return ""


def _settled(path: Path, offset: int, text: str) -> bool:
    """The dump stopped growing (the answerer writes it in one go)."""
    time.sleep(0.05)
    return _since(path, offset) == text


def macos() -> bool:
    """The platform check (a function, so that tests can take the macOS path on Linux)."""
    return sys.platform == "darwin"


def native_stacks(pid: int, timeout_s: float = PYSPY_TIMEOUT_S) -> str:
    """`py-spy dump --native` of the child (macOS: `sample`; a process that is not Python:
    a debugger, `debugger`), or why there are none."""
    if macos():
        return sample_stacks(pid)
    if not debugger.is_python(pid):
        return debugger.debugger_stacks(pid)[-MAX_STACK_CHARS:]
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
