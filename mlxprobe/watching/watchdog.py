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
  Time spent compiling (a compiler child, or kernel compilation seen in the native stacks)
  is subtracted from the budget too.
- warm-up (issue 13): a GPU backend compiles kernels inside the process on the first use of
  each op, so the first steps of a loop may take 0.05 s, 30 s, then 2 ms. The steady pace
  (the step deadline's window) is taken only from steps after warm-up: warm-up ends once
  WARMUP_STABLE consecutive steps lie within WARMUP_SPREAD x of their median, or after
  WARMUP_CAP steps whatever they did. While warming up, the pace is the slowest warm-up step
  after the first (the first interval holds process start and imports: the startup
  deadline's). A long compile at step 2 then never stretches the deadline of step 60, and a
  deadlock at step 2 after quick steps is still called at the floor (1.5 s). Compilation
  itself is recognised on a missed deadline from the native stacks (`compiling`), and the
  runner extends the deadline for it, up to COMPILE_CAP_S in all.

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
# warm-up: the tiny scenario loops settle within 2-3 steps (CPU, CUDA measured in issue 13:
# 46 ms, 30.6 s, then 1.6-4.2 ms); 5 steps within 3x of their median is "settled" (healthy
# steps vary by < 2x on a busy machine), and 50 steps is the most warm-up may last
WARMUP_STABLE = 5
WARMUP_SPREAD = 3.0
WARMUP_CAP = 50
# compilation seen in the native stacks extends a missed deadline; at most this much in all
# per run (issue 13: 20-60 s of NVRTC per process for the quantized kernels, cold)
COMPILE_CAP_S = 600.0
# before the first step, a tree in which every thread of every process sleeps (no CPU, no
# thread running or in disk wait, no compiler, no I/O, no RSS change, no output: `activity`)
# for IDLE_S is a hang, whatever the startup allowance says: a start-up that works gets the
# whole allowance, one that sleeps does not. Measured (README, "A run stuck before its first
# step"): the longest such sleep of real start-ups (import mlx, an mlx-lm model load and
# LoRA start, a worker pool preparing data, the g++ JIT first step, a dataset read, every
# fixed examples/plain script; benchmarks/startup_idle.py at load 7-15 on 2 cores) was
# 0.34 s; 30 s is 88x that and leaves room for a lock or pipe that answers late.
IDLE_S = 30.0


@dataclass(frozen=True)
class Deadlines:
    startup_s: float = STARTUP_S
    step_floor_s: float = STEP_FLOOR_S
    step_factor: float = STEP_FACTOR
    window: int = WINDOW
    budget_s: float | None = None  # None: the scenario's own, else BUDGET_S
    idle_s: float = IDLE_S  # before the first step: every process of the tree asleep this long
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


def warmup_steps(step_seconds: Sequence[float], stable: int = WARMUP_STABLE,
                 spread: float = WARMUP_SPREAD, cap: int = WARMUP_CAP) -> int | None:
    """How many leading steps were warm-up: the index of the first run of `stable` steps
    each within `spread` x of the run's median, `cap` once that many steps came without one;
    None while still warming up. `step_seconds` starts at the first step."""
    times = list(step_seconds[:cap + stable])
    for start in range(1, max(1, len(times) - stable + 1)):
        if start >= cap:
            break
        run = sorted(times[start:start + stable])
        middle = run[len(run) // 2]
        if middle <= 0 or all(middle / spread <= t <= middle * spread for t in run):
            return start
    return cap if len(times) >= cap else None


def current_deadline(d: Deadlines, beats: int, step_seconds: Sequence[float],
                     warming: bool = False) -> tuple[str, float]:
    """(phase, seconds allowed since the last heartbeat or start). While `warming` (the steps
    have not settled), `step_seconds` holds every step so far and the pace is the slowest
    after the first (whose interval holds process start and imports); once settled it holds
    the steady steps only (`steady`), the recent window of them setting the pace."""
    if beats == 0:
        return "startup", d.startup_s
    if warming:
        return "warmup", step_deadline(d, step_seconds[1:])
    return "step", step_deadline(d, step_seconds)


def steady(step_seconds: Sequence[float], warmup: int, window: int) -> list[float]:
    """The steps after `warmup` warm-up steps, the last `window` of them."""
    return list(step_seconds[warmup:])[-window:]


def overdue(d: Deadlines, now: float, started: float, last_beat: float | None, beats: int,
            step_seconds: Sequence[float], compile_s: float, warming: bool = False,
            compile_total_s: float = 0.0, idle_s: float = 0.0) -> tuple[str, float] | None:
    """(phase, deadline) of a missed deadline, or None while the child is within its time.

    `compile_s` is how long the child compiled since the last heartbeat: it extends the
    deadline; `compile_total_s`, how long it compiled in all, extends the budget. `idle_s`
    is how long every process of the tree has slept: before the first heartbeat, `d.idle_s`
    of it is the "startup_idle" deadline.
    """
    budget = BUDGET_S if d.budget_s is None else d.budget_s
    if now - started - compile_total_s > budget:
        return "budget", budget
    if beats == 0 and idle_s > d.idle_s:
        return "startup_idle", d.idle_s
    phase, allowed = current_deadline(d, beats, step_seconds, warming)
    since = now - (last_beat if last_beat is not None else started)
    if since - compile_s > allowed:
        return phase, allowed
    return None
