"""The per-rank facts of a stalled distributed job, taken from outside before it is ended.

Job: for each rank that wrote a start record (rank -> pid): is it alive, its CPU by thread
(measured first, for all ranks at once: answering a stack request perturbs it), its Python
stack (asked of its answerer thread) and its native stack (py-spy). Plain dicts for
`RawResult.ranks`; nothing here judges.

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil

from . import stacks, threads

MAX_THREADS = 8  # threads listed per rank, busiest first


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def rank_facts(rank_pids: dict[int, int], folder: Path, armed: list[int],
               natives: dict[int, str] | None = None) -> list[dict]:
    """One dict per rank, by rank: pid, alive, at (wall clock), threads,
    python_stack, native_stack (`natives`: pid -> one already taken)."""
    live = {rank: pid for rank, pid in rank_pids.items() if alive(pid)}
    split = threads.cpu_split(list(live.values()))
    out = []
    for rank, pid in sorted(rank_pids.items()):
        facts: dict = {"rank": rank, "pid": pid, "alive": rank in live, "at": time.time()}
        if rank in live:
            facts["threads"] = split.get(pid, [])[:MAX_THREADS]
            facts["python_stack"] = (stacks.python_stacks([pid], folder) if pid in armed
                                     else "(no Python stacks: the rank did not arm its dump)")
            facts["native_stack"] = (natives or {}).get(pid) or stacks.native_stacks(pid)
        out.append(facts)
    return out


def joined(facts: list[dict], key: str) -> str:
    """One text of every rank's stack of one kind, each headed by its rank and pid."""
    parts = [f"--- rank {f['rank']} (pid {f['pid']}) ---\n{f.get(key) or '(ended)'}"
             for f in facts]
    return "\n".join(parts)[-stacks.MAX_STACK_CHARS:]
