"""Raw facts of one run, as the runner observed them: the contract between runner and verdict.

Job: plain data classes, no behaviour beyond small derived views. Nothing here judges.

Must not import: mlx, the runner, the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One outside reading of the child's process tree."""

    t: float  # parent monotonic clock
    rss: int  # bytes, summed over the tree
    cpu_s: float  # user+system seconds, summed over the live tree
    procs: int  # processes in the tree
    compiling: bool  # a compiler (g++, cc1plus, ...) is running in the tree
    runnable: int = 0  # threads in the tree that are running or waiting for a core (state R)


@dataclass(frozen=True)
class Stall:
    """What the watchdog saw when a deadline passed."""

    phase: str  # "startup" (no heartbeat yet), "step" (between heartbeats), "budget"
    deadline_s: float  # the deadline that was missed
    stalled_s: float  # seconds since the last heartbeat (or since start)
    cpu_fraction: float  # cores busy on average during the stall (from samples)
    runnable_fraction: float  # share of stall samples with a runnable thread in the tree
    compile_s: float  # seconds of the stall a compiler was running (excluded from deadline)
    last_step: int  # last heartbeat's step number, 0 before the first


@dataclass
class RawResult:
    """Everything the runner knows after the child and its tree are gone."""

    records: list[dict] = field(default_factory=list)
    malformed: int = 0
    exit_code: int | None = None  # None when killed by a signal
    signal: int | None = None
    stall: Stall | None = None  # set when the watchdog ended the run
    memory_limit_mb: float | None = None  # set when the run was killed for memory
    samples: list[Sample] = field(default_factory=list)
    python_stacks: str = ""
    native_stacks: str = ""
    stdout_tail: str = ""
    stderr_tail: str = ""
    wall_s: float = 0.0
    started: float = 0.0  # parent monotonic time the child was started
    survivors: list[int] = field(default_factory=list)  # pids alive after cleanup (must be [])
    interrupted: bool = False  # the parent was interrupted (Ctrl-C, SIGTERM)

    def of_kind(self, kind: str) -> list[dict]:
        return [r for r in self.records if r.get("kind") == kind]

    @property
    def steps(self) -> list[dict]:
        return self.of_kind("step")

    @property
    def start(self) -> dict:
        found = self.of_kind("start")
        return found[0] if found else {}
