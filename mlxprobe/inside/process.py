"""Set-up every watched Python process makes for the harness: the lifeline and the stack dump.

Job: `hold_lifeline()` watches the read end of a pipe only the parent writes to (EOF: the
harness died without cleaning up, so the process group is killed: no trainer outlives its
harness); `arm_stack_dump()` makes STACK_SIGNAL write every thread's Python stack to
`<MLXPROBE_STACKS_DIR>/<pid>.txt` through faulthandler (C-level: it answers even while the
main thread is inside a long MLX evaluation).

May import: the standard library, `protocol`. Must not import: mlx, the watching side.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import threading
from typing import IO

from ..protocol import LIFELINE_FD_ENV, STACK_SIGNAL, STACKS_DIR_ENV

_KEPT: list[IO[str]] = []  # the dump file must outlive the caller (faulthandler writes to it)


def stacks_file(folder: str, pid: int) -> str:
    return os.path.join(folder, f"{pid}.txt")


def arm_stack_dump() -> bool:
    """STACK_SIGNAL -> all threads' stacks appended to this pid's file; False when no folder
    was given (the process then never tells the parent it can be asked)."""
    folder = os.environ.get(STACKS_DIR_ENV)
    if not folder or not os.path.isdir(folder):
        return False
    stream = open(stacks_file(folder, os.getpid()), "a", encoding="utf-8")  # noqa: SIM115
    faulthandler.register(STACK_SIGNAL, file=stream, all_threads=True, chain=False)
    _KEPT.append(stream)
    return True


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
