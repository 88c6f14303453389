"""Raw facts of one run, as the runner observed them: the contract between runner and verdict.

Job: plain data classes, no behaviour beyond small derived views. Nothing here judges. The
records are what the runner's `RecordStore` kept (every record of a short run; a long run's
step views thinned, with exact tallies); a RawResult built from a plain list of records
(tests, old callers) builds that store from the list on first use.

Must not import: mlx, the runner, the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..protocol import CALLBACK, EVAL, MLX, OUTPUT, PROBE, START, STEP, UPDATE, decode_number
from .store import (
    CALLBACK_LOSS,
    CALLBACK_VIEW,
    OUTPUT_LOSS,
    PROBE_VIEW,
    PROGRESS_LOSS,
    PROGRESS_VIEW,
    TRAINER_VIEW,
    RecordStore,
    Series,
)
from .tally import Tally


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
    waited_s: float = 0.0  # seconds of the stall the tree waited for a core (not counted)


@dataclass(frozen=True)
class SampleFacts:
    """Exact running values over every sample taken, kept or not."""

    count: int
    peak_rss: int  # bytes
    compile_s: float  # seconds between samples that saw a compiler (and the next sample)

    @classmethod
    def of(cls, samples: list[Sample]) -> SampleFacts:
        compiled = sum(b.t - a.t for a, b in zip(samples, samples[1:]) if a.compiling)
        return cls(len(samples), max((s.rss for s in samples), default=0), compiled)


# A loss under another name than the run's own, in at most STRAY_MAX reports while the run's
# name has at least OWN_MIN: a one-off evaluation in other units, not a point of the training
# loss (fresh40 `nnue_cp_scale_ok`: 11 reports of `train_loss` 0.086 -> 0.00072, then `eval
# check: centipawn MAE=247.4`, read as a spike of the loss to 247). Two reports are no
# trajectory; a second curve of its own (a fine-tuning phase) has more. Nor are reports that
# all carry one step, however many: a table of results printed once, with no step between
# its rows (fresh304 `rockpool_branch_finetune`, correct: 18 reports of `huber`, then a final
# table of three branches' `rmse` 15.97, 4.28, 4.28 at step 3300, read as the loss rising
# from 0.20 to 4.28).
STRAY_MAX, OWN_MIN = 2, 5
# A loss name that lines of two kinds (two `head`s: the words a line starts with) carry at one
# step with values MIXED_RATIO or more apart, at MIXED_MIN steps or more, is several
# quantities under one name, no curve (fresh335 `affineur_cave_sampling`, correct: a task
# named `loss_pct`, printed on a task-probability line and a turn-count line at every report,
# 0.037 vs 1, then 0.06 vs 11, ... 0.145 vs 149: the turn counts read as a loss that spiked
# 10x). A summary of the same quantity beside it is within a few times of it: measured over
# the kept stdout of fresh303-fresh335, a step's loss and its epoch's mean (fresh335
# `tugboat_horn_signals_interctc_stages`: 4.12 vs 6.71, 3.65 vs 3.75, 3.03 vs 3.09) or a
# cycle's mean (fresh308 `germination_tray_setpool_wdfinder`: 0.48 vs 0.76, 0.14 vs 0.27,
# 0.11 vs 0.15) at most 1.9x apart. Lines of one kind at one step (batches under an epoch's
# step) are one quantity's readings, and one coincidence is not a habit.
MIXED_MIN, MIXED_RATIO = 3, 10.0


def without_strays(records: list[dict]) -> list[dict]:
    """The loss records without those of a stray name (see STRAY_MAX): the run's own name is
    the one most of its loss reports carry (`loss` when they carry none)."""
    named = by_name(records)
    own = max(named, key=lambda n: len(named[n]), default="loss")
    if len(named.get(own, ())) < OWN_MIN:
        return records
    left_out = {id(r) for n, rs in named.items() if n != own and stray(rs) for r in rs}
    return [r for r in records if id(r) not in left_out]


def without_mixed(records: list[dict]) -> list[dict]:
    """The loss records without those of a name that is mixed (see MIXED_MIN)."""
    named = by_name(records)
    left_out = {id(r) for rs in named.values() if mixed(rs) for r in rs}
    return [r for r in records if id(r) not in left_out] if left_out else records


def by_name(records: list[dict]) -> dict[str, list[dict]]:
    """The loss records by the name they give the loss (`loss` when they give none)."""
    named: dict[str, list[dict]] = {}
    for record in records:
        named.setdefault(str(record.get("loss_name") or "loss"), []).append(record)
    return named


def mixed(reports: list[dict]) -> bool:
    """At MIXED_MIN steps or more, lines of two heads gave values MIXED_RATIO apart."""
    at: dict[object, dict[str, list[float]]] = {}
    for record in reports:
        value = decode_number(record.get("loss"))
        if "head" in record and not record.get("restart") and value is not None \
                and math.isfinite(value):
            heads = at.setdefault(record.get("step"), {})
            heads.setdefault(str(record["head"]), []).append(abs(value))
    return sum(_apart(heads) for heads in at.values()) >= MIXED_MIN


def _apart(heads: dict[str, list[float]]) -> bool:
    """Two heads' values at one step are MIXED_RATIO or more apart."""
    if len(heads) < 2:
        return False
    lows = [min(values) for values in heads.values()]
    highs = [max(values) for values in heads.values()]
    return max(lows) >= MIXED_RATIO * min(highs) and max(lows) > 0


def stray(reports: list[dict]) -> bool:
    """Too few reports for a curve, or all of them at one step (a table, not a curve)."""
    steps = {r.get("step") for r in reports}
    return len(reports) <= STRAY_MAX or len(steps) == 1 and None not in steps


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
    looping: dict | None = None  # a stall held as an endless loop (`watching/loops`)
    long_evaluation: dict | None = None  # a stall in one MLX evaluation (`watching/evaluation`)
    recompiling: dict | None = None  # a loop that compiled at every step (`recompiles`)
    peak_rss: int | None = None  # bytes: the kernel's high-water marks (VmHWM)
    device_status: str = ""  # how device memory was sampled, or why it was not
    # missed deadlines forgiven because the native stacks showed compilation (NVRTC, Metal)
    compiling: list[dict] = field(default_factory=list)
    compile_capped: bool = False  # compilation went on past watchdog.COMPILE_CAP_S
    store: RecordStore | None = None  # the runner's store; None: built from `records`
    sample_facts: SampleFacts | None = None  # the runner's; None: computed from `samples`
    ranks: list[dict] = field(default_factory=list)  # a stalled job's per-rank facts (`ranks`)
    interposer: str = ""  # a native program: "loaded", or why it ran without (else "")
    # what each process of the tree did in its last seconds, with the line it waited on
    # (`activity`, `tree`): taken on a hang before the first step and on an interruption
    processes: list[dict] = field(default_factory=list)
    idle_s: float = 0.0  # seconds every process of the tree had slept when the run ended
    last_work: str = ""  # the tree's last work seen before that sleep: "pid 12 (python): cpu"
    startup_idle_max_s: float = 0.0  # the longest such sleep before the first step
    stopped_by: str = ""  # an interrupted run: "SIGINT", "SIGTERM", "budget"
    ended_with: str = ""  # the signal mlxprobe ended an interrupted tree with (not a crash)
    idle_deadline_s: float | None = None  # the run's idle deadline before the first step
    outside_waits: list[str] = field(default_factory=list)  # an idle tree's sockets to the world

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

    def _store(self) -> RecordStore:
        """The runner's store, or one built once per records list from it."""
        if self.store is not None:
            return self.store
        key = (id(self.records), len(self.records))
        cached = self.__dict__.get("_built_store")
        if cached is None or cached[0] != key:
            cached = (key, RecordStore.of(self.records))
            self.__dict__["_built_store"] = cached
        return cached[1]

    def view(self, name: str) -> Series:
        return self._store().view(name)

    def tally(self, view: str, name: str) -> Tally:
        """Exact aggregates of `name` (the loss or a metric in `store.EXACT`) over a view;
        the loss of the learning view over its records without strays, where some were."""
        if name == "loss" and view == self.learning_view and (
                kept := self._learning()[1]) is not None:
            return kept
        return self.view(view).tallies[name]

    @property
    def steps_view(self) -> str:
        """The view of the best source present: the probe's own steps, else the
        bootstrap's (updates, evaluations), else progress from a callback or the output."""
        store = self._store()
        if store.view(PROBE_VIEW).count:
            return PROBE_VIEW
        return TRAINER_VIEW if store.count_of(STEP) else self._progress_view()

    def _progress_view(self) -> str:
        return CALLBACK_VIEW if self.view(CALLBACK_VIEW).count else PROGRESS_VIEW

    @property
    def steps(self) -> list[dict]:
        """The step series of the best source present (`steps_view`): every record of a
        short run; evenly thinned ones of a long run (`step_count` is exact). In a
        distributed job, the lowest rank's (its ranks' own series: `judging.ranks`)."""
        records = self.view(self.steps_view).records()
        ranked = {r["rank"] for r in records if isinstance(r.get("rank"), int)}
        if len(ranked) > 1:
            return [r for r in records if r.get("rank") == min(ranked)]
        return records

    @property
    def step_count(self) -> int:
        return self.view(self.steps_view).count

    @property
    def learning_view(self) -> str:
        """The view that carries the training loss, from the best source that has one."""
        progress_loss = CALLBACK_LOSS if self.view(CALLBACK_VIEW).count else PROGRESS_LOSS
        for name in (self.steps_view, progress_loss, OUTPUT_LOSS):
            if self.view(name).tallies["loss"].n:
                return name
        return self.steps_view

    @property
    def learning(self) -> list[dict]:
        """The records that carry the training loss, from the best source that has one,
        without a stray name's (`strays`)."""
        return self._learning()[0]

    def _learning(self) -> tuple[list[dict], Tally | None]:
        """(the learning records, their loss tally when strays were left out, else None),
        built once per store."""
        series = self.view(self.learning_view)
        key = (self.learning_view, series.count)
        cached = self.__dict__.get("_learning_cache")
        if cached is None or cached[0] != key:
            records = series.records()
            kept = without_strays(without_mixed(records)) if len(records) == series.count \
                else records
            tally = None if len(kept) == len(records) else Tally.of(
                v for r in kept if (v := decode_number(r.get("loss"))) is not None)
            cached = (key, (kept, tally))
            self.__dict__["_learning_cache"] = cached
        return cached[1]

    @property
    def sampled(self) -> SampleFacts:
        """Peak RSS and compiler seconds over every sample (the runner's, else `samples`)."""
        if self.sample_facts is not None:
            return self.sample_facts
        return SampleFacts.of(self.samples)

    @property
    def sources(self) -> list[str]:
        """Where progress came from: probe, update, eval, callback, output."""
        seen = {source for _, source in self._store().sources()}
        return [s for s in (PROBE, UPDATE, EVAL, CALLBACK, OUTPUT) if s in seen]

    @property
    def start(self) -> dict:
        """The first start record, with what the bootstrap learnt later (mlx, device)."""
        found = self.of_kind(START)
        merged = dict(found[0]) if found else {}
        for record in self.of_kind(MLX):
            merged.update({k: v for k, v in record.items() if k not in ("kind", "t", "time")})
        return merged

