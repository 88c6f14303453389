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


def python_stacks(pid: int, path: Path) -> str:
    """Signal the child and wait (bounded) for its faulthandler dump to appear in `path`."""
    try:
        os.kill(pid, STACK_SIGNAL)
    except ProcessLookupError:
        return "(child already gone: no Python stacks)"
    end = time.monotonic() + PYTHON_WAIT_S
    text = ""
    while time.monotonic() < end:
        time.sleep(0.05)
        text = path.read_text(errors="replace") if path.exists() else ""
        if text and _settled(path, text):
            break
    return text[-MAX_STACK_CHARS:] or "(no Python stacks: the child did not answer SIGUSR1)"


def _settled(path: Path, text: str) -> bool:
    """The dump stopped growing (faulthandler writes it in one go, thread by thread)."""
    time.sleep(0.05)
    return path.read_text(errors="replace") == text


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
