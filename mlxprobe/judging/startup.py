"""Rule unit: a tree that sleeps before its first step (`hang:cpu_idle`, phase startup_idle).

Job: the runner ends a run before its first step when every thread of every process of the
tree slept for the idle deadline (`watchdog.IDLE_S`, `--idle-timeout`: no CPU, no thread
running or in a disk wait, no compiler, no I/O, no RSS change, no output; `activity`). This
rule says so with each process's state and the line it waits on (a main process in
`Queue.get` while its workers wait for tasks that never come), instead of the generic
"no heartbeat" of the hang rule, which still fires after it and is listed too.

Threshold and why: the runner's (watching/watchdog.py, IDLE_S, measured on real start-ups:
README "A run stuck before its first step"). Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..watching.facts import RawResult
from ..watching.watchdog import IDLE_S
from . import hints, tree_words
from .rule import Rule, Verdict

PHASE = "startup_idle"


def slept(raw: RawResult, meta: dict) -> Verdict | None:
    stall = raw.stall
    if stall is None or stall.phase != PHASE:
        return None
    procs = raw.processes
    who = f"every process of the tree ({len(procs)})" if procs else "the program"
    reason = (f"{who} slept for {stall.stalled_s:.1f} s before the first step (idle "
              f"deadline {stall.deadline_s:g} s: no CPU, no running thread, no compiler, no "
              f"I/O, no output); CPU at {stall.cpu_fraction:.2f} cores"
              + (f": {tree_words.listed(procs)}" if procs else ""))
    evidence = {"phase": PHASE, "idle_s": round(stall.stalled_s, 2),
                "idle_deadline_s": stall.deadline_s, "last_step": 0,
                "cpu_cores_during_stall": round(stall.cpu_fraction, 3),
                "runnable_share_during_stall": round(stall.runnable_fraction, 3),
                "last_work": raw.last_work,
                "processes": tree_words.evidence(procs),
                "doing": tree_words.doing_counts(procs)}
    return Verdict("hang", "cpu_idle", reason, hints.STARTUP_IDLE, evidence)


RULES = (
    Rule("hang.startup_idle", "stacks", "before the first step, every thread of every "
         "process asleep (CPU < 0.05 cores, none running or in disk wait, no compiler, "
         "< 4 KiB of I/O, RSS still, no output) for the idle deadline "
         f"({IDLE_S:g} s; --idle-timeout)", "real start-ups slept < 1 s at a time "
         "(README, 'A run stuck before its first step')", slept),
)
