"""Set-up every watched Python process makes for the harness: the lifeline and the stack dump.

Job: `hold_lifeline()` watches the read end of a pipe only the parent writes to (EOF: the
harness died without cleaning up, so the process group is killed: no trainer outlives its
harness); `arm_stack_dump()` (from `answerer`: a thread answers stack requests written to a
FIFO, no signal is ever sent to the program) is re-exported for the callers.

May import: the standard library, `protocol`. Must not import: mlx, the watching side.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import TracebackType

from ..protocol import LIFELINE_FD_ENV
from .answerer import arm_stack_dump

__all__ = ["arm_stack_dump", "hold_lifeline", "on_uncaught"]

Hook = Callable[[type[BaseException], BaseException, TracebackType | None], None]


def on_uncaught(action: Hook) -> None:
    """Run `action` on an exception that ends the program, then the hook that was there
    (Python's own report); a failure of `action` never stops that report."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        try:
            action(kind, value, tb)
        except Exception:  # noqa: BLE001 - the program's own report must still run
            pass
        previous(kind, value, tb)
    sys.excepthook = hook


def hold_lifeline() -> None:
    """Watch the parent's lifeline on a thread: EOF (the parent is gone) ends our group.
    The first process to see the variable takes it: its children are ended with the group."""
    fd = int(os.environ.pop(LIFELINE_FD_ENV, "-1"))
    if fd < 0:
        return
    try:
        os.set_inheritable(fd, False)  # processes the program starts must not hold it
    except OSError:
        return  # not ours any more (the fd was closed by whoever started us)
    group = os.getpgrp()

    def wait_for_eof() -> None:
        try:
            while os.read(fd, 1):
                continue
        except OSError:
            pass
        os.killpg(group, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)  # in case the program left the group

    threading.Thread(target=wait_for_eof, name="mlxprobe-lifeline", daemon=True).start()
