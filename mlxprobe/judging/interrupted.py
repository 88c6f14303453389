"""Rule unit: the user ended the run (Ctrl-C, SIGTERM to mlxprobe, `--budget` of `watch`).

Job: an interrupted run is not a crash: the SIGTERM its tree got was mlxprobe's own. The
verdict is `interrupted` (detail: SIGINT, SIGTERM or budget) and carries the diagnosis of
that moment, as a hang's would: the steps so far, what every process of the tree did over
its last seconds (waiting, busy, compiling, doing I/O) and the line each waited on, memory,
and the verdict the evidence would have given (`looks_like`): a tree that had slept
LOOKS_IDLE_S or more in every process looks like `hang:cpu_idle`; otherwise, with steps,
what the other rules say of the run so far (`pass`, `not_learning`, ...), else "starting
up" with what the processes were doing.

Threshold and why: LOOKS_IDLE_S = 5 s. The longest sleep of the whole tree measured in real
start-ups was under 1 s (README, "A run stuck before its first step"): 5 s of it is already
out of the ordinary, and the words say how long against the deadline (`--idle-timeout`).

It runs first in the rulebook (our SIGTERM would read as a crash). It asks the rulebook
what the rest of the evidence says through `verdict.classify` (imported when needed: the
rulebook imports this unit). Must not import: mlx, the runner, psutil.
"""

from __future__ import annotations

from dataclasses import replace

from ..watching.facts import RawResult
from ..watching.watchdog import IDLE_S
from . import hints, tree_words
from .rule import Rule, Verdict

LOOKS_IDLE_S = 5.0
MB = 1024 * 1024


def stopped(raw: RawResult, meta: dict) -> Verdict | None:
    if not raw.interrupted:
        return None
    looks, why, hint = looks_like(raw, meta)
    by = raw.stopped_by or "the user"
    where = (f"after {raw.step_count} steps" if raw.step_count
             else f"before the first step, {raw.wall_s:.0f} s after start")
    procs = tree_words.listed(raw.processes)
    reason = (f"stopped by {by} {where}; {why}" + (f"; {procs}" if procs else ""))
    evidence = {"stopped_by": by, "looks_like": looks, "looks_like_why": why,
                "idle_s": round(raw.idle_s, 2), "looks_idle_s": LOOKS_IDLE_S,
                "idle_deadline_s": _deadline(raw), "wall_s": round(raw.wall_s, 2),
                "tree_ended_with": raw.ended_with or None,
                "outside_waits": raw.outside_waits,
                "rss_mb": _rss_mb(raw), "last_work": raw.last_work,
                "processes": tree_words.evidence(raw.processes),
                "doing": tree_words.doing_counts(raw.processes)}
    return Verdict("interrupted", raw.stopped_by, reason, hint, evidence)


def looks_like(raw: RawResult, meta: dict) -> tuple[str, str, str]:
    """(the verdict the evidence would give, why in words, the hint to show)."""
    if raw.idle_s >= LOOKS_IDLE_S and raw.outside_waits:
        return ("waiting_outside", f"idle for {raw.idle_s:.0f} s, waiting on sockets to "
                f"outside the tree ({', '.join(raw.outside_waits[:3])}): a server, a "
                "download or remote ranks, not a hang of the program itself",
                hints.INTERRUPTED)
    if raw.idle_s >= LOOKS_IDLE_S and raw.processes:
        return ("hang:cpu_idle", f"idle for {raw.idle_s:.0f} s in every process: looks like "
                f"hang:cpu_idle (the idle deadline is {_deadline(raw):g} s before the first "
                "step, --idle-timeout)", hints.STARTUP_IDLE)
    if raw.step_count:
        from .verdict import classify  # the rulebook holds this unit: imported when needed

        so_far = classify(replace(raw, interrupted=False, signal=None, exit_code=None,
                                  watched=True, stall=None), meta)
        return (so_far.label, f"so far the evidence says {so_far.label}: {so_far.reason}",
                so_far.hint if so_far.kind != "pass" else hints.INTERRUPTED)
    counts = tree_words.doing_counts(raw.processes)
    doing = ", ".join(f"{n} {what}" for what, n in counts.items()) or "no process seen"
    return "starting", f"still starting up ({doing})", hints.INTERRUPTED


def _deadline(raw: RawResult) -> float:
    return IDLE_S if raw.idle_deadline_s is None else raw.idle_deadline_s


def _rss_mb(raw: RawResult) -> float | None:
    rss = [s.rss for s in raw.samples[-5:]]
    return round(max(rss) / MB, 1) if rss else None


RULES = (
    Rule("interrupted", "exit", "the user ended the run (Ctrl-C, SIGTERM to mlxprobe, "
         f"--budget); looks like hang:cpu_idle after {LOOKS_IDLE_S:g} s asleep in every "
         "process", "real start-ups slept < 1 s at a time (README, 'A run stuck before its "
         "first step')", stopped),
)
