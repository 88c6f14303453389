"""The record store: what the parent keeps of a run's records, bounded however long it runs.

Job: route each record to the step views the verdict chooses from (`VIEWS`: the probe's
steps, a trainer's updates/evaluations, callback or output progress, ...) and keep, per view,
every record up to FULL_LIMIT (every catalogue scenario stays whole: its verdict is the one
of a full list), then an evenly decimated series (every k-th record, k doubling when full;
for plots, fits and window medians), the last RECENT records in full, and exact streaming
aggregates (`Tally` per metric in EXACT, the first `params_finite == False`, `fallback`
steps, summed `step_s`, the count). Other records are kept whole up to a cap per kind (notes
and eval notices are few that matter); counts per kind and per (kind, source) are exact.

Must not import: mlx, the runner, judging.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..protocol import CALLBACK, EVAL, OUTPUT, PROBE, PROGRESS, STEP, UPDATE, decode_number
from .tally import Tally
from .thinned import Thinned

FULL_LIMIT = 20_000  # records of one view kept whole; catalogue scenarios have <= ~2,000
RECENT = 1_000  # the last records of a view kept in full once it is decimated
EXACT = ("loss", "learning_rate", "grad_norm", "param_delta")  # exact rules read these
CAPS = {"note": 200, "eval_open": 200}  # kept per kind; the report shows 50 notes
WHOLE_VIEWS = 8  # x the limit: the records kept in arrival order before only views are
OTHER_CAP = 10_000  # kept of any other kind (start, end, error, check, mlx are a handful)
# the views: probe steps, trainer steps (update/eval), callback and any progress, and the
# progress records that carry a loss (all, from a callback, from output)
PROBE_VIEW, TRAINER_VIEW, CALLBACK_VIEW, PROGRESS_VIEW = "probe", "trainer", "callback", \
    "progress"
CALLBACK_LOSS, PROGRESS_LOSS, OUTPUT_LOSS = "callback_loss", "progress_loss", "output_loss"
VIEWS = (PROBE_VIEW, TRAINER_VIEW, CALLBACK_VIEW, PROGRESS_VIEW, CALLBACK_LOSS,
         PROGRESS_LOSS, OUTPUT_LOSS)


def views_of(record: dict) -> tuple[str, ...]:
    """The views a record belongs to (none for a record that is not a step or progress)."""
    kind = record.get("kind")
    if kind == STEP:
        source = record.get("source", PROBE)
        if source == PROBE:
            return (PROBE_VIEW,)
        return (TRAINER_VIEW,) if source in (UPDATE, EVAL) else ()
    if kind != PROGRESS:
        return ()
    source, loss = record.get("source"), "loss" in record
    views = [PROGRESS_VIEW]
    if source == CALLBACK:
        views += [CALLBACK_VIEW, CALLBACK_LOSS] if loss else [CALLBACK_VIEW]
    if loss:
        views += [PROGRESS_LOSS, OUTPUT_LOSS] if source == OUTPUT else [PROGRESS_LOSS]
    return tuple(views)


def is_false(value: object) -> bool:
    """`value == False` as a list's `index(False)` sees it (0 and 0.0 too, never None)."""
    return value is False or (type(value) in (int, float) and value == 0)


class Series:
    """One view's records: whole up to `limit`, then thinned + recent, and exact tallies."""

    def __init__(self, limit: int = FULL_LIMIT, recent: int = RECENT) -> None:
        self.history: Thinned[dict] = Thinned(limit, recent)
        self.tallies = {name: Tally() for name in EXACT}
        self.first_false: int | None = None  # 1-based record of the first params_finite False
        self.fallbacks = 0  # records whose metrics say fallback: True
        self.step_s: float = 0  # sum of the numeric step_s (as `sum` would add them)

    def add(self, record: dict) -> None:
        self.history.add(record)
        self._tally(record)

    def _tally(self, record: dict) -> None:
        loss = decode_number(record.get("loss"))
        if loss is not None:
            self.tallies["loss"].add(loss)
        metrics = record.get("metrics", {})
        if metrics:
            for name in EXACT[1:]:
                value = decode_number(metrics.get(name))
                if value is not None:
                    self.tallies[name].add(value)
            if self.first_false is None and is_false(metrics.get("params_finite")):
                self.first_false = self.history.count
            self.fallbacks += metrics.get("fallback") is True
        step_s = record.get("step_s")
        if isinstance(step_s, (int, float)):
            self.step_s += step_s

    @property
    def count(self) -> int:
        return self.history.count

    @property
    def decimated(self) -> bool:
        return self.history.thinned

    def records(self) -> list[dict]:
        """Every record while whole; else the evenly kept ones and the last one."""
        return self.history.even()


class RecordStore:
    """All that is kept of one run's records; not thread-safe (the caller holds a lock)."""

    def __init__(self, limit: int = FULL_LIMIT, recent: int = RECENT) -> None:
        self._limit, self._recent = limit, recent
        self.views: dict[str, Series] = {}
        self.kinds: Counter[str] = Counter()
        self.sources: Counter[tuple[str, str]] = Counter()  # (kind, source) of steps/progress
        self.dropped: Counter[str] = Counter()  # records over their kind's cap
        self._others: list[dict] = []  # records of no view, in arrival order
        self._whole: list[dict] | None = []  # every record in order, until a view decimates

    @classmethod
    def of(cls, records: Iterable[dict], limit: int = FULL_LIMIT) -> RecordStore:
        store = cls(limit)
        for record in records:
            store.add(record)
        return store

    def add(self, record: dict) -> None:
        kind = record.get("kind")
        self.kinds[kind] += 1
        views = views_of(record)
        if kind in (STEP, PROGRESS):
            self.sources[kind, record.get("source", PROBE if kind == STEP else OUTPUT)] += 1
        if not views and kind not in (STEP, PROGRESS):
            if self.kinds[kind] > CAPS.get(kind, OTHER_CAP):
                self.dropped[kind] += 1
                return
            self._others.append(record)
        for name in views:
            self._series(name).add(record)
        if self._whole is not None:
            self._whole.append(record)
            if len(self._whole) > WHOLE_VIEWS * self._limit or \
                    any(self.views[n].decimated for n in views):
                self._whole = None

    def _series(self, name: str) -> Series:
        series = self.views.get(name)
        if series is None:
            series = self.views[name] = Series(self._limit, self._recent)
        return series

    def view(self, name: str) -> Series:
        """A view's series (an empty one when no record belongs to it)."""
        return self.views.get(name) or Series(self._limit, self._recent)

    def records(self) -> list[dict]:
        """What is kept, in arrival order: every record while no view was decimated; else
        the other records and each view's decimated and recent ones, by arrival time."""
        if self._whole is not None:
            return list(self._whole)
        kept = {id(r): r for s in self.views.values() for r in s.history.merged()}
        steps = list(kept.values())
        return sorted(self._others + steps, key=lambda r: r.get("t", 0.0))
