"""Rule unit: a held-out metric equal to its training twin at every report: the held-out
split is the training split.

Job: a metric measured on held-out data (`test_acc`, `val_loss`) and the same measure on
the training data (`train_acc`, `loss`) read two different sets of examples; as the model
learns they move together, never as one number. When the two are printed equal at every
report where both appear, while they move, the held-out set holds the training examples
themselves: a subset or slice that returns the whole dataset (its indices ignored), the
training array passed as the test array, a split drawn from the same indices twice. The
held-out score the run reports is a training score.

Thresholds and why: a held-out metric (`metric_names.held_out`) and a metric of the run that
is not held out whose names are the same once the split words are taken out (`test_acc` and
`train_acc`, `val_loss` and `loss`), both reported at >= MIN_SHARED steps, equal as printed
at every one of them, taking >= MIN_VALUES distinct values there (a pair that sits at 1.000
from its first report says nothing). Measured over the 721 kept corpus runs: 4 print such a
pair equal at 2 or more shared reports; the correct ones at 2 of 18, 5 of 12 and 2 of 7;
fresh362 `sluice_ledger_polymer` (mlx-graphs 2353fab: `Dataset.__getitem__` of a slice
returned every graph, so `ds[:240]` and `ds[240:]` were the whole 300-graph set) at 10 of
10, train_acc = test_acc 0.737 -> 1.000 against a stated ceiling of ~0.80; its fixed twin's
test_acc 0.67-0.75.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

from .. import metric_names
from ..watching.facts import RawResult
from . import metrics
from .rule import Rule, Verdict

MIN_SHARED = 5
MIN_VALUES = 3
SPLIT_WORDS = frozenset({"train", "training", "val", "valid", "validation", "test", "eval",
                         "evaluation", "dev", "holdout", "heldout", "held", "out"})
HINT = ("`{held}` equals `{train}` at every report: the held-out examples are the training "
        "examples, so the held-out score is a training score. Check the split: a dataset's "
        "subset or slice that ignores its indices and returns every example (`Dataset"
        ".__getitem__` of a slice or a list must build `[self.items[i] for i in indices]`), "
        "the training array passed again as the test array, or two splits drawn from the "
        "same indices; print both splits' sizes and check they are disjoint")


def measure(name: str) -> str:
    """The name without its split words: `acc` for `test_acc`, `loss` for `val_loss`."""
    return "_".join(w for w in metric_names.words(name) if w not in SPLIT_WORDS)


def twin(series: dict[str, list[tuple[int, float]]], held: str) -> dict | None:
    """The training metric equal to `held` at every shared report, with its counts."""
    mine = dict(series[held])
    for name, points in series.items():
        if name == held or metric_names.held_out(name) or measure(name) != measure(held):
            continue
        shared = [step for step, _ in points if step in mine]
        values = {v for step, v in points if step in mine}
        if len(shared) >= MIN_SHARED and len(values) >= MIN_VALUES and all(
                mine[step] == v for step, v in points if step in mine):
            return {"held_out": held, "training": name, "shared_reports": len(shared),
                    "distinct_values": len(values), "min_shared": MIN_SHARED,
                    "min_values": MIN_VALUES}
    return None


def same_split(raw: RawResult, meta: dict) -> Verdict | None:
    series = metrics.series(raw)
    found = next((f for n in series if metric_names.held_out(n) and (f := twin(series, n))),
                 None)
    if found is None:
        return None
    return Verdict("wrong_result", "same_split", f"`{found['held_out']}` equals "
                   f"`{found['training']}` at all {found['shared_reports']} reports where "
                   f"both appear ({found['distinct_values']} distinct values): the held-out "
                   "split is the training split",
                   HINT.format(held=found["held_out"], train=found["training"]), found)


RULES = (
    Rule("wrong_result.same_split", "metrics", f"a held-out metric equal as printed to the "
         f"same measure on the training data at every one of >= {MIN_SHARED} reports where "
         f"both appear, taking >= {MIN_VALUES} distinct values", "two different sets of "
         "examples never score one number at every report; failure corpus: fresh362 "
         "sluice_ledger_polymer (mlx-graphs 2353fab)", same_split),
)
