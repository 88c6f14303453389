"""Signal: each measured metric's reports, with how many optimizer updates came before each.

Job: the readings two rule units compare (`reverted`, `degraded`): for the loss under its own
name and every metric of the program's progress records that has a direction (higher or lower
is better, `metric_names`), the list of (updates counted before the report, value), in order.
Reports with the same update count have no training between them.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import bisect

from .. import metric_names
from ..protocol import PROGRESS, decode_number
from ..watching.facts import RawResult


def reports(raw: RawResult, times: list[float]) -> dict[str, list[tuple[int, float]]]:
    """(updates counted before it, value) of each report of each measured name, in order:
    the loss under its own name and every metric of the program's progress records."""
    out: dict[str, list[tuple[int, float]]] = {}
    for record in raw.of_kind(PROGRESS):
        done = bisect.bisect_right(times, float(record.get("t", 0.0)))
        for name, number in measured(record).items():
            out.setdefault(metric_names.variant_of(name), []).append((done, number))
    return out


def companions(raw: RawResult) -> dict[str, list[frozenset[str]]]:
    """The measured names printed with each report of each measured name (the report's
    line shape), in the order of `reports`."""
    return {metric: [frozenset(metric_names.variant_of(n) for n in read) for _, read in seen]
            for metric, seen in _printed(raw).items()}


def labels(raw: RawResult) -> dict[str, list[str]]:
    """The names each measured metric's reports were printed under (`test_acc:model`, then
    `test_acc:checkpoint`: two labelled variants of `test_acc`), in the order of `reports`."""
    return {metric: [name for name, _ in seen] for metric, seen in _printed(raw).items()}


def last_two(raw: RawResult, metric: str) -> tuple[dict[str, float], dict[str, float]]:
    """Every measured number of the last two reports of `metric` (its variants merged)."""
    seen = _printed(raw)[metric]
    return seen[-2][1], seen[-1][1]


def one_report(raw: RawResult, metric: str) -> bool:
    """The last two readings of `metric` are two columns of one report (fresh252
    `loom_shuttle_layout_port`, correct: `val acc 1.000 | mill-A val acc after re-fit 0.733`),
    not one report after another."""
    seen = _printed(raw)[metric]
    return seen[-2][1] is seen[-1][1]


def resized(raw: RawResult, metric: str) -> bool:
    """The last two reports of `metric` each print the same whole-number setting with no
    direction (a sample count `n`, a horizon, a beam width), and the two differ: two subsets
    of the data (a per-relation table, fresh283 `quire_distmult_scriptorium`, correct:
    `same_hand n= 131 mrr 0.472`, `copied_from n= 29 mrr 0.136`) or two settings of one
    evaluation (fresh299 `beadwire_chain_relay`, correct: `final 20-step rollout mse
    8.02e-06`, then `final 80-step rollout mse 8.83e-05`), not the same evaluation again; or
    each prints the same reference (`references`) with two values: two data sets."""
    found = [numbers(r) for r in raw.of_kind(PROGRESS)
             if any(metric_names.variant_of(n) == metric for n in measured(r))]
    if len(found) < 2:
        return False
    before, after = found[-2:]
    return any(one[n] != two[n] for one, two in ((settings(before), settings(after)), (
        references(before), references(after))) for n in one.keys() & two.keys())


def references(read: dict[str, float]) -> dict[str, float]:
    """A report's references by name (`metric_names.reference`: a most-frequent class's
    accuracy, a baseline's error): a value fixed by the data a report is computed on, so two
    values are two data sets (fresh387 `ferry_manifest_stablelm_stages`, correct: `foot val
    ... acc 0.545 vs most-frequent 0.162`, then `deck val ... acc 0.183 vs most-frequent
    0.111`, one line per held-out set)."""
    return {n: v for n, v in read.items() if metric_names.reference(n)}


def settings(read: dict[str, float]) -> dict[str, float]:
    """A report's positive whole numbers with no direction (a horizon, a subset's size, a
    beam width): what the evaluation was run with, by name."""
    return {n: v for n, v in read.items()
            if direction(n) is None and float(v).is_integer() and v > 0}


def _printed(raw: RawResult) -> dict[str, list[tuple[str, dict[str, float]]]]:
    """For each measured metric (its variants merged), each report of it in order: the name
    it was printed under and every measured number of that report."""
    out: dict[str, list[tuple[str, dict[str, float]]]] = {}
    for record in raw.of_kind(PROGRESS):
        read = measured(record)
        for name in read:
            out.setdefault(metric_names.variant_of(name), []).append((name, read))
    return out


LINE_BREAKDOWN = 3  # labelled variants of one metric on one line: a per-class breakdown


def broken_down(raw: RawResult, metric: str) -> bool:
    """The last report of `metric` is one line holding >= LINE_BREAKDOWN labelled variants of it
    (`val recall: open=56.5%, false_set=81.3%, seized=37.1%`: fresh353
    `locksmith_stale_workers`, correct, one evaluation's recall per class), not models
    compared (two on a line: fresh204 `lora_fuse_armpose`, `val_mse adapters=0.01096
    fused=0.63773`)."""
    seen = _printed(raw)[metric]
    return sum(1 for _, read in seen if read is seen[-1][1]) >= LINE_BREAKDOWN


def relabelled(named: dict[str, list[str]], name: str) -> bool:
    """The last two reports of `name` are two labelled variants of it, each its own label:
    the same metric evaluated on the two models the labels name."""
    last, before = named[name][-1], named[name][-2]
    return ":" in last and ":" in before and last != before


def repeated(shapes: dict[str, list[frozenset[str]]], name: str) -> bool:
    """The last report of `name` prints every measured name the one before it did: the
    same evaluation again (a training line then a test line under one name are two)."""
    return shapes[name][-2] <= shapes[name][-1]


def numbers(record: dict) -> dict[str, float]:
    """A progress record's numbers by name (the loss under its own name)."""
    named = dict(record.get("metrics") or {})
    if record.get("loss") is not None:
        named[str(record.get("loss_name") or "loss")] = record["loss"]
    decoded = {name: decode_number(value) for name, value in named.items()}
    return {name: number for name, number in decoded.items() if number is not None}


def measured(record: dict) -> dict[str, float]:
    """A progress record's numbers that have a direction, by name (the loss under its own)."""
    return {n: v for n, v in numbers(record).items() if direction(n) is not None}


def direction(name: str) -> bool | None:
    """True for a higher-is-better metric, False for a lower-is-better one, else None
    (`metric_names.lower_is_better`'s reading, the other way round)."""
    lower = metric_names.lower_is_better(metric_names.normal(name))
    return None if lower is None else not lower
