"""The record store: what the parent keeps of a run's records, bounded however long it runs.

Job: route each record to the step views the verdict chooses from (`VIEWS`: the probe's
steps, a trainer's updates/evaluations, callback or output progress, ...) and keep, per view,
every record up to FULL_LIMIT (every catalogue scenario stays whole: its verdict is the one
of a full list), then an evenly thinned series (every k-th record, k doubling when more than
THINNED; for plots, fits and window medians), the last RECENT records in full, and exact
streaming aggregates (`Tally` per metric in EXACT, the first `params_finite == False`,
`fallback` steps, summed `step_s`, the count). Other records are kept whole up to a cap per
kind (notes and eval notices are few that matter); counts per kind and per (kind, source)
are exact. Records are routed in batches (a heartbeat costs ~1-2 us here). A `Block` (a fast
loop's packed steps) is routed record by record while the store still keeps every record,
then as columns into its view, where only the records kept are made.

Must not import: mlx, the runner, judging.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..packing import Block
from ..protocol import CALLBACK, EVAL, OUTPUT, PROBE, PROGRESS, STEP, UPDATE
from .tally import Tally
from .thinned import Thinned, made

BATCH = 256  # records routed together
EMPTY: dict = {}
FULL_LIMIT = 20_000  # records of one view kept whole; catalogue scenarios have <= ~2,000
THINNED = 8_192  # then 4,096-8,192 evenly spaced ones: plots, fits, window medians (a
# verdict on 20,000 kept steps took 0.3-0.8 s on a loaded 2-core machine; on 8,192, a third)
RECENT = 1_000  # the last records of a view kept in full once it is thinned
EXACT = ("loss", "learning_rate", "grad_norm", "param_delta")  # exact rules read these
CAPS = {"note": 200, "eval_open": 200}  # kept per kind; the report shows 50 notes
WHOLE_VIEWS = 8  # past 8x the limit, no list of every record in arrival order is kept
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


class Series:
    """One view's records: whole up to `limit`, then thinned + recent, and exact tallies."""

    def __init__(self, limit: int = FULL_LIMIT, recent: int = RECENT) -> None:
        self.history: Thinned[dict] = Thinned(limit, recent, THINNED)
        self.tallies = {name: Tally() for name in EXACT}
        self.first_false: int | None = None  # 1-based record of the first params_finite False
        self.fallbacks = 0  # records whose metrics say fallback: True
        self._step_s: float = 0  # sum of the numeric step_s

    def extend(self, records: list[dict]) -> None:
        """Add records in arrival order; the tallies see each field of a batch as one list
        (C loops over lists: a heartbeat costs about a microsecond, not ten)."""
        before = self.history.count
        self.history.extend(records)
        self.tallies["loss"].extend([r.get("loss") for r in records])
        metrics = [r.get("metrics", EMPTY) for r in records]
        for name in EXACT[1:]:
            self.tallies[name].extend([m.get(name) for m in metrics])
        self._flags(before, [m.get("params_finite") for m in metrics],
                    [m.get("fallback") for m in metrics], [r.get("step_s") for r in records])

    def extend_block(self, block: Block) -> None:
        """`extend` by a block's step records, read column by column: only the records the
        history keeps are made (a long run's block costs its columns, not its dicts)."""
        before = self.history.count
        self.history.extend_made(len(block), block.record, block.held)
        for name, group in zip(EXACT, ("keys", "metrics", "metrics", "metrics")):
            self._tally(block, group, name)
        self._flags(before, block.metric("params_finite") or [],
                    block.metric("fallback") or [], block.column("step_s") or [])

    def _flags(self, before: int, finite: list, fallback: list, seconds: list) -> None:
        """The first params_finite False (== False, as the verdict always read it: 0 too),
        the fallbacks and the summed step_s of records after the `before` first."""
        if self.first_false is None and False in finite:
            self.first_false = before + finite.index(False) + 1
        self.fallbacks += sum(1 for f in fallback if f is True)
        self._step_s = sum(_numbers(seconds), self._step_s)

    def _tally(self, block: Block, group: str, name: str) -> None:
        constant, value = block.constant(group, name)
        if constant:
            self.tallies[name].add_same(value, len(block))
        else:
            column = block.column(name) if group == "keys" else block.metric(name)
            self.tallies[name].extend(column or [], finite=True)

    @property
    def count(self) -> int:
        return self.history.count

    @property
    def thinned(self) -> bool:
        return self.history.thinned

    @property
    def step_s(self) -> float:
        """The numeric step_s summed over every record (exactly `sum` of them while whole)."""
        return self._step_s if self.thinned else sum(_seconds(self.history.even()))

    def records(self) -> list[dict]:
        """Every record while whole; else the evenly kept ones and the last one."""
        return self.history.even()


def _seconds(records: list[dict]) -> list[float]:
    return _numbers([r.get("step_s") for r in records])


def _numbers(values: list) -> list[float]:
    if set(map(type, values)) <= {int, float}:  # the usual case, at C speed
        return values
    return [s for s in values if isinstance(s, (int, float))]


class RecordStore:
    """All that is kept of one run's records; not thread-safe (the caller holds a lock).
    Records wait in a batch of BATCH before they are routed; every read routes them first."""

    def __init__(self, limit: int = FULL_LIMIT, recent: int = RECENT) -> None:
        self._limit, self._recent = limit, recent
        self._views: dict[str, Series] = {}
        self._kinds: Counter[str] = Counter()
        self._sources: Counter[tuple[str, str]] = Counter()  # (kind, source) of beats
        self.dropped: Counter[str] = Counter()  # records over their kind's cap
        self._others: list[dict] = []  # records of no view, in arrival order
        self._whole: list | None = []  # every record in order (or held), until a view thins
        self._pending: list[dict] = []

    @classmethod
    def of(cls, records: Iterable[dict], limit: int = FULL_LIMIT,
           recent: int = RECENT) -> RecordStore:
        store = cls(limit, recent)
        for record in records:
            store.add(record)
        return store

    def add(self, record: dict) -> None:
        self.extend([record])

    def extend(self, items: list[dict | Block]) -> None:
        """Records and blocks of step records, in arrival order."""
        for item in items:
            if type(item) is Block:
                self._block(item)
            else:
                self._pending.append(item)
        if len(self._pending) >= BATCH:
            self._flush()

    def _block(self, block: Block) -> None:
        """A block's records, as columns into their one view (records held to be made when
        read); one by one when they belong to more than one view, or to none."""
        sources = _sources(block)
        view = _view_of(sources) if sources is not None else None
        if view is None:
            self._pending += block.records()
            return
        self._flush()  # the records before it first
        self._kinds[STEP] += len(block)
        for source, count in sources.items():  # type: ignore[union-attr]
            self._sources[STEP, source] += count
        series = self._series(view)
        series.extend_block(block)
        if self._whole is not None:
            self._whole += [block.held(i) for i in range(len(block))]
            self._whole_checked([view])

    def _whole_checked(self, views: Iterable[str]) -> None:
        """Stop keeping every record in order once that list is long or a view thinned."""
        if len(self._whole) > WHOLE_VIEWS * self._limit or \
                any(self._views[n].thinned for n in views):  # type: ignore[arg-type]
            self._whole = None

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        if _all_probe_steps(batch):
            self._kinds[STEP] += len(batch)
            self._sources[STEP, PROBE] += len(batch)
            groups = {PROBE_VIEW: batch}
            kept = batch
        else:
            groups, kept = self._route(batch)
        for name, records in groups.items():
            self._series(name).extend(records)
        if self._whole is not None:
            self._whole += kept
            self._whole_checked(groups)

    def _route(self, batch: list[dict]) -> tuple[dict[str, list[dict]], list[dict]]:
        """(records of each view, the records kept) of a mixed batch, one by one."""
        groups: dict[str, list[dict]] = {}
        kept = []
        for record in batch:
            kind = record.get("kind")
            self._kinds[kind] += 1
            if kind in (STEP, PROGRESS):
                self._sources[kind, record.get("source", PROBE if kind == STEP else OUTPUT)] += 1
                for name in views_of(record):
                    groups.setdefault(name, []).append(record)
            elif self._kinds[kind] > CAPS.get(kind, OTHER_CAP):
                self.dropped[kind] += 1
                continue
            else:
                self._others.append(record)
            kept.append(record)
        return groups, kept

    def _series(self, name: str) -> Series:
        series = self._views.get(name)
        if series is None:
            series = self._views[name] = Series(self._limit, self._recent)
        return series

    def view(self, name: str) -> Series:
        """A view's series (an empty one when no record belongs to it)."""
        self._flush()
        return self._views.get(name) or Series(self._limit, self._recent)

    def count_of(self, kind: str) -> int:
        """Records of `kind` seen, kept or not."""
        self._flush()
        return self._kinds[kind]

    def sources(self) -> Counter[tuple[str, str]]:
        """Heartbeats seen by (kind, source): a step's default source is the probe, a
        progress record's the output."""
        self._flush()
        return Counter(self._sources)

    def records(self) -> list[dict]:
        """What is kept, in arrival order: every record while no view was thinned; else
        the other records and each view's thinned and recent ones, by arrival time."""
        self._flush()
        if self._whole is not None:
            self._whole = list(map(made, self._whole))  # made once (read again: the same)
            return list(self._whole)
        kept = {id(r): r for s in self._views.values() for r in s.history.merged()}
        return sorted([*self._others, *kept.values()], key=lambda r: r.get("t", 0.0))


def _sources(block: Block) -> Counter | None:
    """How many of a block's steps come from each source (None: a source that is not a
    string)."""
    constant, value = block.constant("keys", "source")
    if constant:
        return Counter({value: len(block)}) if type(value) is str else None
    column = block.column("source")
    if column is None:
        return Counter({PROBE: len(block)})
    try:
        counts = Counter(column)
    except TypeError:  # an unhashable value
        return None
    return counts if all(type(s) is str for s in counts) else None


def _view_of(sources: Counter) -> str | None:
    """The one view steps of these sources belong to (None: more than one, or none)."""
    if sources.keys() == {PROBE}:
        return PROBE_VIEW
    return TRAINER_VIEW if sources.keys() <= {UPDATE, EVAL} else None


def _all_probe_steps(batch: list[dict]) -> bool:
    """Every record a probe step (the common case: routed as one list)."""
    return [r.get("kind") for r in batch].count(STEP) == len(batch) and \
        [r.get("source", PROBE) for r in batch].count(PROBE) == len(batch)
