"""The processes of a run's tree in words: what each did, and the line each waited on.

Job: pure text from `raw.processes` (the runner's `activity` + `tree` facts), shared by the
start-up hang rule and the interrupted rule, so that both say the same thing the same way:
"process 17121 (python) waiting [S pipe_read x1] at blocked (startup.py:35)".

Must not import: mlx, the runner, psutil.
"""

from __future__ import annotations

MAX_NAMED = 6  # processes named in a reason; the evidence holds them all


def one(proc: dict) -> str:
    waits = ", ".join(f"{k} x{n}" for k, n in list(proc.get("waits", {}).items())[:3])
    line = proc.get("waits_on", {}).get("line")
    busy = (f" at {proc.get('cores', 0):.2f} cores" if proc.get("doing") == "busy"
            else f" (asleep {proc['asleep_s']:g} s)" if proc.get("asleep_s") else "")
    return (f"process {proc.get('pid')} ({proc.get('name')}) {proc.get('doing')}{busy}"
            + (f" [{waits}]" if waits else "") + (f" at {line}" if line else ""))


def listed(processes: list[dict]) -> str:
    named = "; ".join(one(p) for p in processes[:MAX_NAMED])
    more = len(processes) - MAX_NAMED
    return named + (f"; and {more} more" if more > 0 else "")


def doing_counts(processes: list[dict]) -> dict[str, int]:
    """{"waiting": 3, "busy": 1, ...}."""
    counts: dict[str, int] = {}
    for proc in processes:
        counts[str(proc.get("doing"))] = counts.get(str(proc.get("doing")), 0) + 1
    return counts


def evidence(processes: list[dict]) -> list[dict]:
    """The processes for the evidence: their facts and where they wait, no command lines
    beyond 200 characters (set by `activity`)."""
    keep = ("pid", "ppid", "name", "doing", "cores", "over_s", "asleep_s", "rss_mb", "threads",
            "waits",
            "waits_on", "command")
    return [{k: p[k] for k in keep if k in p} for p in processes]
