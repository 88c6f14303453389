"""Python stacks on request, without a signal: a thread that answers a FIFO.

Job: `arm_stack_dump()` makes DIR/<pid>.ask (a FIFO; DIR is MLXPROBE_STACKS_DIR) and starts
a daemon thread blocked reading it. Each byte the parent writes there is answered with every
thread's Python stack (the main thread first, in faulthandler's layout, this thread left
out), appended to DIR/<pid>.txt in one write.

Why no signal (issue 26): the parent used to send SIGUSR1 to a faulthandler handler. What a
signal does is decided by the receiver's disposition when it arrives, which the sender
cannot know: in interpreter shutdown faulthandler lets go and SIGUSR1's default action ends
the process (measured: 94 of 100 children that finished while asked in a tight loop died of
it, 2 CPU hogs on 2 cores); an exec (a shell, a tool that is not Python) resets a handler to
the default; a program's own SIGUSR1 handler would run, or be taken over. No check from
outside closes these races: the process can exec, or start its shutdown, between the check
and the kill. A request over a FIFO cannot harm: a process that is not listening (not yet
armed, exec'd into another program, ended) holds no reader, so the parent's non-blocking
open fails (ENXIO) and nothing is delivered; one that is shutting down answers or does not,
and exits as it would have. So mlxprobe sends no signal to a running program (its SIGTERM
and SIGKILL end a tree only after the run ended or was judged), and never touches SIGUSR1: a
program's own handler stays its own.

The price: the answer needs the GIL. MLX releases it inside `mx.eval` and `.item()`
(measured: another thread kept running through both), and sleeps and locks release it; a
process whose thread holds it forever (a C extension blocked with the GIL held) does not
answer within the parent's wait, and the parent then reads its Python stacks from outside
with py-spy where installed (`watching.stacks`).

After a fork the child holds a copy of the FIFO's read end but no thread: it closes the copy
(`os.register_at_fork`), so a request never waits on a process that cannot answer. The fds
are close-on-exec, so an exec'd image holds none.

May import: the standard library, `protocol`. Must not import: mlx, the watching side.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from types import FrameType

from ..protocol import STACKS_DIR_ENV, stacks_file, stacks_request

THREAD_NAME = "mlxprobe-stacks"
MAX_THREADS = 100  # faulthandler's own limits
MAX_DEPTH = 100
_OPEN: list[int] = []  # this process's FIFO and answer fds (closed in a forked child)


def arm_stack_dump() -> bool:
    """Listen for stack requests on this pid's FIFO; False when no folder was given or the
    FIFO cannot be made (the process then never tells the parent it can be asked)."""
    folder = os.environ.get(STACKS_DIR_ENV)
    if _OPEN:
        return True
    if not folder or not os.path.isdir(folder):
        return False
    pid = os.getpid()
    try:
        ask = _listen(stacks_request(folder, pid))
        out = os.open(stacks_file(folder, pid), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return False
    _OPEN.extend((ask, out))
    os.register_at_fork(after_in_child=_forget)
    threading.Thread(target=_answer, args=(ask, out), name=THREAD_NAME, daemon=True).start()
    return True


def _listen(path: str) -> int:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # left by an ended process whose pid this one reuses
    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDWR)  # never blocks, never reads EOF (Linux, macOS)


def _forget() -> None:
    for fd in _OPEN:
        with contextlib.suppress(OSError):
            os.close(fd)
    _OPEN.clear()


def _answer(ask: int, out: int) -> None:
    me = threading.get_ident()
    while True:
        try:
            if not os.read(ask, 64):
                return
            os.write(out, dump(skip=me).encode("utf-8", "replace"))
        except OSError:
            return
        except Exception:  # noqa: BLE001,S112 - a failed answer is a missing one, never a crash
            continue


def dump(skip: int | None = None) -> str:
    """Every thread's stack but `skip`'s, main thread first, most recent call first."""
    frames = sys._current_frames()
    main = threading.main_thread().ident
    order = sorted((i for i in frames if i != skip), key=lambda i: i != main)
    return "\n".join(_block(i, frames[i], i == main) for i in order[:MAX_THREADS]) + "\n"


def _block(ident: int, frame: FrameType | None, main: bool) -> str:
    head = "Main thread" if main else "Thread"
    lines = [f"{head} 0x{ident:016x} (most recent call first):\n"]
    while frame is not None and len(lines) <= MAX_DEPTH:
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {frame.f_lineno or "???"} '
                     f"in {code.co_name}\n")
        frame = frame.f_back
    return "".join(lines)
