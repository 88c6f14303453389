"""A busy stall inside one MLX evaluation, told from a hang by the work the run did before it.

Job: a watched program that trains for a minute and then evaluates something large once (a
kNN over every embedding, a validation over the whole set, a final generation) sits in one
`mx.eval`/`.item()` for seconds: no heartbeat, its Python stack still, its native main
thread in MLX, the CPU busy. The step deadline (10x the slowest recent step) and the
confirmation's looks would call that a hang. A lazy backlog looks the same from outside;
what differs is the work before it: a loop that evaluated its steps spent, between its first
heartbeat and the stall, about as long as it computed, while a loop that never evaluates
returns from each step in ~0.2 ms and leaves all its work to one evaluation.

Rule: a watched program's missed step deadline whose stacks stood still is not held (the
deadline is extended, and counted) while the native main thread is in MLX, the tree computes
(>= BUSY_CORES cores, or a runnable thread in >= BUSY_RUNNABLE of the stall's samples with
>= RUNNING_FLOOR cores), and
the stall has lasted at most FACTOR x the time from the first heartbeat to the stall. Past
that it is held, with both numbers as evidence. An idle stall (a deadlock in `Event::wait`)
and a stall in the program's own Python are never extended here.

Measured (2 cores, mlx 0.32.4 CPU): failure corpus fresh11 `a11_lazy_memory_bank_chain_ok`
trains 640 steps for ~55-65 s, then evaluates a leave-one-out kNN over 4,096 embeddings in
one `.item()`: 6.9 s alone (load 0.4). Before this rule it was called `hang:cpu_busy` under
load (5.2 s after step 642, deadline 5.0 s) and passed alone by less than the confirmation's
margin. The lazy loops of the corpus reach their backlog after steps of ~0.2 ms each.
FACTOR 1: a single evaluation longer than all the training before it is not a final report.

Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

from .native_frames import in_mlx

FACTOR = 1.0
BUSY_CORES = 0.5  # the hang rule's own thresholds for a computing stall (`judging/verdict`)
BUSY_RUNNABLE = 0.5
# a runnable thread counts only beside this much CPU: a computing thread starved by other
# load still ran (0.44 cores measured); a sleeping child (`time.sleep(1000)`) under the full
# suite's load on 2 cores read 0.001 cores with a thread runnable in 55% of the samples
# (stop 86: `hang:cpu_busy` where `hang:cpu_idle` is right, one full run of two)
RUNNING_FLOOR = 0.05


def computing(cores: float, runnable: float) -> bool:
    """A stall computes rather than waits: >= BUSY_CORES cores, or a runnable thread in
    >= BUSY_RUNNABLE of its samples with >= RUNNING_FLOOR cores (the hang rule's own test,
    `judging/verdict`)."""
    return cores >= BUSY_CORES or (runnable >= BUSY_RUNNABLE and cores >= RUNNING_FLOOR)


class LongEvaluation:
    """The current stall's start (kept across its extensions) and the decision."""

    def __init__(self) -> None:
        self._signs: tuple[int, int] | None = None
        self._since = 0.0
        self.evidence: dict | None = None

    def allows(self, signs: tuple[int, int], last_sign: float, first_beat: float | None,
               now: float, busy: tuple[float, float], native: str) -> bool:
        """May this held stall (the program's `signs` unchanged since `last_sign`) go on?
        `busy` is (cores, runnable share) during it; `native` its native dump."""
        if signs != self._signs:
            self._signs, self._since = signs, last_sign
        self.evidence = None
        if first_beat is None or not in_mlx(native):
            return False
        if not computing(*busy):
            return False
        worked, inside = self._since - first_beat, now - self._since
        self.evidence = {"inside_evaluation_s": round(inside, 2),
                         "worked_before_s": round(worked, 2), "factor": FACTOR}
        return inside <= FACTOR * worked
