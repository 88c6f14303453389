"""The watchdog policy: when has a child missed its deadline? Pure functions, no processes.

Job: given the deadlines configuration and what has been seen so far (heartbeat times, time a
compiler was running), say which deadline applies now and whether it has passed.

Defaults and why (measured on a 2-core Linux machine, mlx 0.32.4 CPU):
- startup 120 s: importing mlx and building a tiny model takes ~1 s, but the Linux CPU backend
  may compile fused kernels with g++ on the first graph (1 s to 20+ s cold); time a compiler
  runs is not counted against any deadline at all, this is the cap on everything else.
- step deadline = max(STEP_FLOOR_S, STEP_FACTOR x the slowest of the last WINDOW steps):
  the scenario loops take 0.2-20 ms a step, so the floor decides. 1.5 s is 75x the slowest
  healthy scenario step, and leaves a stalled step found within ~2 s of its last heartbeat.
  A loop whose steps really take seconds gets 10x its slowest recent step.
- budget 600 s for a whole run, a backstop only; scenarios set their own (`budget_s`).
  `budget_s=None` means "not given": the run spec puts the scenario's own there, else 600.

Must not import: mlx, psutil, the runner (it is pure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

STARTUP_S = 120.0
STEP_FLOOR_S = 1.5
STEP_FACTOR = 10.0
WINDOW = 50
BUDGET_S = 600.0
GRACE_S = 2.0  # SIGTERM -> SIGKILL


@dataclass(frozen=True)
class Deadlines:
    startup_s: float = STARTUP_S
    step_floor_s: float = STEP_FLOOR_S
    step_factor: float = STEP_FACTOR
    window: int = WINDOW
    budget_s: float | None = None  # None: the scenario's own, else BUDGET_S
    grace_s: float = GRACE_S

    def __post_init__(self) -> None:
        for name in ("startup_s", "step_floor_s", "step_factor", "budget_s", "grace_s"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


def step_deadline(d: Deadlines, step_seconds: Sequence[float]) -> float:
    """Allowed seconds between heartbeats, from the recent step durations."""
    recent = step_seconds[-d.window:]
    slowest = max(recent) if recent else 0.0
    return max(d.step_floor_s, d.step_factor * slowest)


def current_deadline(d: Deadlines, beats: int, step_seconds: Sequence[float]) -> tuple[str, float]:
    """(phase, seconds allowed since the last heartbeat or start)."""
    if beats == 0:
        return "startup", d.startup_s
    # the first step's duration includes cold start and compilation: never let it set the pace
    return "step", step_deadline(d, step_seconds[1:])


def overdue(d: Deadlines, now: float, started: float, last_beat: float | None, beats: int,
            step_seconds: Sequence[float], compile_s: float) -> tuple[str, float] | None:
    """(phase, deadline) of a missed deadline, or None while the child is within its time.

    `compile_s` is how long a compiler ran since the last heartbeat: it extends the deadline.
    """
    budget = BUDGET_S if d.budget_s is None else d.budget_s
    if now - started > budget:
        return "budget", budget
    phase, allowed = current_deadline(d, beats, step_seconds)
    since = now - (last_beat if last_beat is not None else started)
    if since - compile_s > allowed:
        return phase, allowed
    return None
