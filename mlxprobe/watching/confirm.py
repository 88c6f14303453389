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

Pure text handling plus one sleep; the stacks come from `stacks`.
Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

CONFIRM_GAP_S = 1.0
LOOKS = 5  # a tight Python loop of two lines shows the same line 5 times in 1/16 of cases
HEADER = re.compile(r"^(Current thread|Thread) 0x[0-9a-f]+ .*:$")


def main_stacks(dump: str) -> list[str]:
    """The stack of the signalled ("Current") thread of each process in a dump."""
    found, current, inside = [], [], False
    for line in dump.splitlines():
        if HEADER.match(line.strip()):
            if inside:
                found.append("\n".join(current))
            inside, current = line.strip().startswith("Current thread"), []
        elif inside and line.strip():
            current.append(line.strip())
    if inside:
        found.append("\n".join(current))
    return found


def stuck(take: Callable[[], str], gap_s: float = CONFIRM_GAP_S,
          looks: int = LOOKS) -> tuple[bool, str]:
    """(no main-thread stack changed between `looks` looks over `gap_s`, the first look)."""
    first = take()
    seen = main_stacks(first)
    for _ in range(looks - 1):
        time.sleep(gap_s / (looks - 1))
        if main_stacks(take()) != seen:
            return False, first
    return bool(seen), first
