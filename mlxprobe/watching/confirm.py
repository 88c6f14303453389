"""Before calling a watched program hung: is it really stuck? Two looks at its Python stacks.

Job: a user's program gives weaker progress signals than a scenario (a validation pass, a
checkpoint save, a data pass may beat rarely), and a false hang makes people uninstall the
tool. So a missed deadline of a watched program is confirmed: the main thread's Python stack
of every process that armed its dump is taken LOOKS times over CONFIRM_GAP_S; if any changed,
the
program is moving (the deadline is extended, and the evidence says so); if none changed in
LOOKS looks, it
is stuck. A program that never gave a progress signal at all is called hung only on that
evidence too (identical stacks and no output during the whole stall), never on time alone.

Stacks alone miss a phase that calls one function over and over (a checkpoint written array
by array, a data shard read file by file): a signal-time stack of a loop shows the same line
every time. So the process tree's I/O is read too (bytes read and written by system calls,
psutil): IO_MOVING bytes or more across the looks also counts as moving. A tight loop that
neither moves its stack nor does I/O (an endless `while`, a backlog inside one evaluation)
stays a hang.

Text handling, one sleep, psutil's I/O counters; the stacks come from `stacks`.
Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import psutil

CONFIRM_GAP_S = 1.0
LOOKS = 5
IO_MOVING = 1 << 20  # 1 MiB of reads or writes during the looks: a checkpoint, a data shard
HEADER = re.compile(r"^(Main thread|Current thread|Thread) 0x[0-9a-f]+ .*:$")
MAIN = ("Main thread", "Current thread")  # the answerer's; faulthandler's signalled thread


def main_stacks(dump: str) -> list[str]:
    """The stack of the main thread of each process in a dump."""
    found, current, inside = [], [], False
    for line in dump.splitlines():
        if HEADER.match(line.strip()):
            if inside:
                found.append("\n".join(current))
            inside, current = line.strip().startswith(MAIN), []
        elif inside and line.strip():
            current.append(line.strip())
    if inside:
        found.append("\n".join(current))
    return found


def io_bytes(pids: list[int]) -> int:
    """Bytes read and written through system calls by the processes (0 where unreadable)."""
    total = 0
    for pid in pids:
        try:
            counters = psutil.Process(pid).io_counters()
        except (psutil.Error, AttributeError, OSError):
            continue
        total += getattr(counters, "read_chars", counters.read_bytes)
        total += getattr(counters, "write_chars", counters.write_bytes)
    return total


def stuck(take: Callable[[], str], pids: list[int], gap_s: float = CONFIRM_GAP_S,
          looks: int = LOOKS, seen: set | None = None) -> tuple[bool, str]:
    """(neither a main-thread stack changed nor IO_MOVING bytes moved over `looks` looks
    across `gap_s`, the first look); the main-thread stacks looked at are added to `seen`."""
    io_before, first = io_bytes(pids), take()
    kept = seen if seen is not None else set()
    start = main_stacks(first)
    kept.add(tuple(start))
    for _ in range(looks - 1):
        time.sleep(gap_s / (looks - 1))
        now = main_stacks(take())
        kept.add(tuple(now))
        if now != start:
            return False, first
    return bool(start) and io_bytes(pids) - io_before < IO_MOVING, first


def thread_stack(text: str, tid: int) -> str:
    """The frames of thread `tid` in py-spy-style native stacks (`Thread TID: "name"`)."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("Thread "):
            inside = line.split()[1].rstrip(":") == str(tid)
        elif inside:
            lines.append(line.strip())
    return "\n".join(lines)


def native_stuck(first: str, take: Callable[[], str], pid: int, pids: list[int],
                 gap_s: float = CONFIRM_GAP_S) -> bool:
    """A compiled program (no Python stacks): its main thread's native stack (from `first`,
    then one more look after `gap_s`) stood still and fewer than IO_MOVING bytes moved. One
    more look only: a debugger's look takes seconds (gdb ~2 s with libmlx's symbols). With
    no stack to compare (no debugger installed, the look failed) the missed deadline stands,
    as for any program that is not Python."""
    seen = thread_stack(first, pid)
    if not seen:
        return True
    io_before = io_bytes(pids)
    time.sleep(gap_s)
    return thread_stack(take(), pid) == seen and io_bytes(pids) - io_before < IO_MOVING

