"""Raw facts of one run, as the runner observed them: the contract between runner and verdict.

Job: plain data classes, no behaviour beyond small derived views. Nothing here judges.

Must not import: mlx, the runner, the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..protocol import CALLBACK, EVAL, MLX, NON_FINITE, OUTPUT, PROBE, PROGRESS, START, STEP, UPDATE


@dataclass(frozen=True)
class Sample:
    """One outside reading of the child's process tree."""

    t: float  # parent monotonic clock
    rss: int  # bytes, summed over the tree
    cpu_s: float  # user+system seconds, summed over the live tree
    procs: int  # processes in the tree
    compiling: bool  # a compiler (g++, cc1plus, ...) is running in the tree
    runnable: int = 0  # threads in the tree that are running or waiting for a core (state R)
    device: int | None = None  # GPU memory bytes held by the tree (NVML); None: not sampled


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
    watched: bool = False  # a user's own program (`watch`): no end record is owed
    extensions: int = 0  # missed deadlines not held: the stacks showed the program moving
    peak_rss: int | None = None  # bytes: the kernel's high-water marks (VmHWM, ru_maxrss)
    device_status: str = ""  # how device memory was sampled, or why it was not
    # missed deadlines forgiven because the native stacks showed compilation (NVRTC, Metal)
    compiling: list[dict] = field(default_factory=list)
    compile_capped: bool = False  # compilation went on past watchdog.COMPILE_CAP_S

    def of_kind(self, kind: str) -> list[dict]:
        return self._views().get(kind, [])

    def _views(self) -> dict[str, list[dict]]:
        """Records by kind, built once per records list (they are read many times)."""
        key = (id(self.records), len(self.records))
        cached = self.__dict__.get("_by_kind")
        if cached is None or cached[0] != key:
            by_kind: dict[str, list[dict]] = {}
            for record in self.records:
                by_kind.setdefault(record.get("kind"), []).append(record)
            cached = (key, by_kind)
            self.__dict__["_by_kind"] = cached
        return cached[1]

    @property
    def steps(self) -> list[dict]:
        """The step series of the best source present: the probe's own steps, else the
        bootstrap's (updates, evaluations), else progress from a callback or the output."""
        beats = self.of_kind(STEP)
        probe = [r for r in beats if r.get("source", PROBE) == PROBE]
        if probe or not beats:
            return probe or self._progress()
        return [r for r in beats if r.get("source") in (UPDATE, EVAL)]

    def _progress(self) -> list[dict]:
        found = self.of_kind(PROGRESS)
        callback = [r for r in found if r.get("source") == CALLBACK]
        return callback or found

    @property
    def learning(self) -> list[dict]:
        """The records that carry the training loss, from the best source that has one."""
        candidates = (self.steps, [r for r in self._progress() if "loss" in r],
                      [r for r in self.of_kind(PROGRESS) if r.get("source") == OUTPUT
                       and "loss" in r])
        for records in candidates:
            if any(_numeric(r.get("loss")) for r in records):
                return records
        return self.steps

    @property
    def sources(self) -> list[str]:
        """Where progress came from: probe, update, eval, callback, output."""
        seen = {r.get("source", PROBE) for r in self.of_kind(STEP)}
        seen |= {r.get("source", OUTPUT) for r in self.of_kind(PROGRESS)}
        return [s for s in (PROBE, UPDATE, EVAL, CALLBACK, OUTPUT) if s in seen]

    @property
    def start(self) -> dict:
        """The first start record, with what the bootstrap learnt later (mlx, device)."""
        found = self.of_kind(START)
        merged = dict(found[0]) if found else {}
        for record in self.of_kind(MLX):
            merged.update({k: v for k, v in record.items() if k not in ("kind", "t", "time")})
        return merged


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or \
        value in NON_FINITE
