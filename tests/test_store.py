"""The parent's memory of a run is bounded, and its exact aggregates are exact (issue 10).

No processes: the record store, the heartbeat watch and the sample store are fed synthetic
records and samples. Bounds are asserted on a million heartbeats; the exact aggregates
against a brute-force pass over the whole list; and, under the full-retention limit, the
rules the store changed give what the whole-list rules gave before (their list versions are
kept here as the reference).
"""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mlxprobe.judging import verdict
from mlxprobe.judging.verdict import classify, metric_series
from mlxprobe.protocol import CALLBACK, EVAL, OUTPUT, PROBE, PROGRESS, STEP, UPDATE, decode_number
from mlxprobe.watching.facts import RawResult, Sample
from mlxprobe.watching.heartbeat import RECENT_BEATS, Watch
from mlxprobe.watching.samples import SampleStore
from mlxprobe.watching.store import EXACT, RECENT, THINNED, VIEWS, RecordStore, views_of
from mlxprobe.watching.tally import Tally


def test_a_million_heartbeats_keep_a_bounded_store_with_exact_aggregates() -> None:
    n = 1_000_000
    store = RecordStore()
    store.add({"kind": "start", "t": 0.0})
    usual = {"grad_norm": 0.0, "fallback": False, "params_finite": True}
    fallback, broken = {**usual, "fallback": True}, {**usual, "params_finite": False}
    for i in range(1, n + 1):
        metrics = fallback if i % 1000 == 0 else broken if i == 900_001 else usual
        store.add({"kind": STEP, "step": i, "t": 1.0 + i * 1e-4, "step_s": 1e-4,
                   "loss": "nan" if i == 777_777 else 3.0 - i * 1e-7, "metrics": metrics})
    store.add({"kind": "end", "t": 1e9})
    probe = store.view("probe")
    kept = probe.records()
    assert probe.count == n and probe.thinned
    assert THINNED // 2 <= len(probe.history.kept) <= THINNED
    assert len(kept) <= THINNED + 1 and len(probe.history.recent) == RECENT
    steps = [r["step"] for r in kept]
    every = probe.history.every
    assert steps[:-1] == list(range(1, n + 1, every)) and steps[-1] == n  # even, and the last
    assert len(store.records()) <= THINNED + RECENT + 2
    loss = probe.tallies["loss"]
    assert (loss.n, loss.bad, loss.first_bad) == (n, 1, 777_777)
    assert loss.max == 3.0 - 1e-7 and loss.max_at == 1
    assert probe.tallies["grad_norm"].all_zero and probe.tallies["grad_norm"].n == n
    assert probe.fallbacks == n // 1000 and probe.first_false == 900_001
    assert math.isclose(probe.step_s, n * 1e-4)
    assert store.count_of(STEP) == n and store.sources() == {(STEP, PROBE): n}


def test_the_watch_keeps_a_count_and_a_recent_window_of_beats() -> None:
    watch = Watch(started=0.0)
    n = 3 * RECENT_BEATS
    for i in range(1, n + 1):
        watch.add({"kind": STEP, "step": i, "t": float(i)})
    assert watch.beat_count == n and len(watch.beats) == RECENT_BEATS
    assert watch.intervals(51) == [1.0] * 51 and watch.last_beat() == float(n)
    assert watch.intervals() == [1.0] * (RECENT_BEATS - 1)  # no interval from the start


def random_records(rng: random.Random, n: int) -> list[dict]:
    values = [0.0, 1.5, -2.0, 7.0, "nan", "inf", 3, True, None, "x"]
    sources = [None, PROBE, UPDATE, EVAL, CALLBACK, OUTPUT, "other"]
    out = []
    for i in range(n):
        record = {"kind": rng.choice([STEP, STEP, PROGRESS, "note"]), "t": float(i),
                  "step": i, "step_s": rng.choice([1e-3, 2, None, "s"])}
        source = rng.choice(sources)
        if source is not None:
            record["source"] = source
        if rng.random() < 0.8:
            record["loss"] = rng.choice(values) if rng.random() < 0.3 else rng.random()
        record["metrics"] = {name: rng.choice(values) for name in
                             ("grad_norm", "param_delta", "learning_rate", "params_finite",
                              "fallback") if rng.random() < 0.5}
        out.append(record)
    return out


def brute_tally(values: list[object]) -> Tally:
    return Tally.of(v for v in map(decode_number, values) if v is not None)


def test_each_views_aggregates_equal_a_brute_force_pass() -> None:
    records = random_records(random.Random(7), 30_000)
    store = RecordStore.of(records, limit=500, recent=50)
    for name in VIEWS:
        mine = [r for r in records if name in views_of(r)]
        series = store.view(name)
        assert series.count == len(mine)
        for metric in EXACT:
            got = series.tallies[metric]
            want = brute_tally([r.get("loss") if metric == "loss" else
                                r["metrics"].get(metric) for r in mine])
            for field in Tally.__slots__:
                assert getattr(got, field) == getattr(want, field), (name, metric, field)
        flags = [r["metrics"].get("params_finite") for r in mine]
        assert series.first_false == (flags.index(False) + 1 if False in flags else None)
        assert series.fallbacks == sum(r["metrics"].get("fallback") is True for r in mine)
        timed = [r["step_s"] for r in mine if isinstance(r.get("step_s"), (int, float))]
        assert math.isclose(series.step_s, sum(timed))
        every = series.history.every
        assert series.history.kept == mine[::every] and len(series.history.kept) <= 500
        assert list(series.history.recent) == mine[-50:]


def test_samples_keep_recent_ones_whole_and_the_peak_exact() -> None:
    samples = [Sample(i * 0.05, (100 + (i * 37) % 1000) * 2**20, i * 0.01, 1,
                      i % 7 == 0) for i in range(100_000)]
    store = SampleStore(limit=1000, recent=100)
    for sample in samples:
        store.append(sample)
    facts = store.facts()
    assert facts.count == len(samples) == len(store)
    assert facts.peak_rss == max(s.rss for s in samples)
    brute = sum(b.t - a.t for a, b in zip(samples, samples[1:]) if a.compiling)
    assert math.isclose(facts.compile_s, brute)
    assert len(store.retained()) <= 1000 + 100 and store.retained()[-100:] == samples[-100:]
    assert store.since(samples[-10].t) == samples[-10:]


# --- under the limit: the rules the store changed give what the whole list gave ----------

def old_steps(records: list[dict]) -> list[dict]:
    """RawResult.steps as it was: filters over the whole list."""
    beats = [r for r in records if r.get("kind") == STEP]
    probe = [r for r in beats if r.get("source", PROBE) == PROBE]
    if probe or not beats:
        return probe or old_progress(records)
    return [r for r in beats if r.get("source") in (UPDATE, EVAL)]


def old_progress(records: list[dict]) -> list[dict]:
    found = [r for r in records if r.get("kind") == PROGRESS]
    return [r for r in found if r.get("source") == CALLBACK] or found


def old_learning(records: list[dict]) -> list[dict]:
    progress = [r for r in records if r.get("kind") == PROGRESS]
    for candidate in (old_steps(records), [r for r in old_progress(records) if "loss" in r],
                      [r for r in progress if r.get("source") == OUTPUT and "loss" in r]):
        if any(decode_number(r.get("loss")) is not None for r in candidate):
            return candidate
    return old_steps(records)


def old_series(records: list[dict], name: str) -> list[float]:
    """verdict.metric_series as it was."""
    if name == "loss":
        found = [decode_number(r.get("loss")) for r in old_learning(records)]
    else:
        found = [decode_number(r.get("metrics", {}).get(name)) for r in old_steps(records)]
        if all(v is None for v in found):
            found = [decode_number(r.get("metrics", {}).get(name)) for r in records
                     if r.get("kind") == PROGRESS]
    return [v for v in found if v is not None]


def old_exact(records: list[dict]) -> dict:
    """What the changed rules read, computed over whole lists as before."""
    steps = old_steps(records)
    losses = old_series(records, "loss")
    finite = [r.get("metrics", {}).get("params_finite") for r in steps]
    zero = {name: (len(v), all(x == 0.0 for x in v)) for name in EXACT[1:]
            for v in [old_series(records, name)]}
    bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    good = [v for v in losses if math.isfinite(v)]
    return {"steps": len(steps), "zero": zero, "bad": (bad[0] + 1, len(bad)) if bad else None,
            "last_finite": good[-1] if good else None, "max": max(good) if good else None,
            "first_false": finite.index(False) + 1 if False in finite else None,
            "fallbacks": sum(1 for r in steps if r.get("metrics", {}).get("fallback") is True)}


def new_exact(raw: RawResult) -> dict:
    loss = verdict.metric_tally(raw, "loss")
    zero = {name: (t.n, t.all_zero or t.n == 0) for name in EXACT[1:]
            for t in [verdict.metric_tally(raw, name)]}
    series = raw.view(raw.steps_view)
    return {"steps": raw.step_count, "zero": zero,
            "bad": (loss.first_bad, loss.bad) if loss.bad else None,
            "last_finite": loss.last_finite, "max": loss.max,
            "first_false": series.first_false, "fallbacks": series.fallbacks}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 300))
def test_under_the_limit_the_verdict_is_the_whole_lists(seed: int, n: int) -> None:
    records = random_records(random.Random(seed), n) + [{"kind": "end", "t": 1e9}]
    samples = [Sample(i * 0.01, (50 + i) * 2**20, i * 0.01, 1, False) for i in range(n)]
    raw = RawResult(records=records, samples=samples, exit_code=0)
    assert raw.steps == old_steps(records) and raw.learning == old_learning(records)
    assert new_exact(raw) == old_exact(records)
    assert repr(metric_series(raw, "loss")) == repr(old_series(records, "loss"))
    watch = Watch(0.0)  # as the runner builds it: record by record into its store
    for record in records:
        watch.add(record)
    fed = RawResult(records=watch.all_records(), store=watch.store, samples=samples,
                    exit_code=0)
    assert fed.records == records
    assert classify(fed) == classify(raw)
