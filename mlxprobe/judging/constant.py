"""Rule unit: a loss-like metric that prints the same value at every report of the run.

Job: a loss measured on anything a training run changes (its parameters, its batches) moves
at least in its last printed digits from one report to the next. A loss that is the same
number, to 4 or more significant digits, at every one of its reports from the first to the
last measures something that never changed: the model it evaluates is not the one being
trained (a new instance, a local copy, a stale reference), or the updates never reach the
model (an update handed flat dotted keys with `strict=False`, a result dropped). Whatever
the parameter looks or the loss's own trend say, that number says the run learned nothing.

Thresholds and why: at least MIN_REPORTS reports (the trend rule's window is 10; 6 identical
values are already beyond any learning run's chance), every value bit-identical as parsed,
and at least MIN_DIGITS significant digits in it (a loss printed as `0.69` or `2.3` can sit
still while it falls slowly; `0.7142` or `0.72512` cannot over six reports unless the run's
whole change is below 0.01%). Measured (failure corpus fresh6): `trainer_local_model_shadow`
(mlx-swift-examples PR 110) val_loss 0.7142 at all 12 epochs while the trained copy moved;
`manual_sgd_flat_update_nonstrict` (mlx PR 2239) full_mse 0.72512 at all 8 reports over 800
updates; their fixed twins fall (0.71 -> 0.06; 0.73 -> 0.05). It stands down when another
loss-like metric of the run fell by more than 20% (last third's median against the first
third's; the run's own loss, as its reports named it, included: fresh250
`herbarium_label_copyexpand`): a distillation run may print its teacher's fixed loss beside
the student's; and
when a metric measured on held-out data moved by more than MOVED (5%, its last third's
median against its first third's: the evaluated model moves, so the fixed number is a
reference, a predict-the-mean baseline beside `val rmse` falling 7.5%; a stale model scored
on random batches only jitters: fresh129's shape, +-0.7%); and when the parameters moved
and then stood bit-still at a constant learning rate (`settled`: a full-batch fit that
converged before its first report, fresh219 `sphagnum_cover_ridge_sgd_ok`); a value at
ln 2 is left to `zero_logit`, whose fix names why a logistic loss's logits are all 0
(fresh224 `peal_composer_dpo`: a DPO reference taken from the policy itself).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math

from .. import metric_names
from ..protocol import decode_number
from ..watching.facts import RawResult
from . import metrics, program, zero_logit
from .evaluated import MOVED, evaluated_moves, thirds
from .rule import Rule, Verdict
from .settled import settled

MIN_REPORTS = 6
MIN_DIGITS = 4
FELL = 0.8  # another loss fell by more than 20%: the run learns
HINT = ("the printed {name} never changed, so what it measures never changed: check that "
        "the model you evaluate is the one the optimizer updates (not a new instance, a "
        "local copy or a stale reference such as self.model next to a local model), and that "
        "the updates reach it: model.update() of a flat {{'layers.0.weight': ...}} dict with "
        "strict=False silently matches nothing (tree_unflatten(list(flat.items())) first), "
        "and an update whose result is dropped changes nothing; or the learning rate is 0: "
        "a schedule already at its end (a cosine decay whose decay_steps count epochs, not "
        "optimizer steps, is 0 after the first few steps: give it the run's total steps)")


def digits(value: float) -> int:
    """Significant digits of a parsed value as Python prints it back (0.7142 -> 4)."""
    text = repr(abs(value)).split("e")[0].replace(".", "").lstrip("0")
    return len(text.rstrip("0"))


def frozen(raw: RawResult) -> tuple[str, list[float]] | None:
    """The first loss-like metric whose every report is one value with enough digits, when
    no other loss-like metric of the run fell (a teacher's or a baseline's fixed loss printed
    beside a student's falling one is a reference, not a stale model)."""
    every = printed(raw)
    losses = {name: values for name, values in every.items()
              if metric_names.role(name) == metric_names.LOSS}
    for name, values in losses.items():
        if (len(values) >= MIN_REPORTS and math.isfinite(values[0]) and len(set(values)) == 1
                and digits(values[0]) >= MIN_DIGITS):
            beside = {**reported_losses(raw), **every}
            return None if beside_learning(beside, name) else (name, values)
    return None


def reported_losses(raw: RawResult) -> dict[str, list[float]]:
    """The run's loss as its reports named it (`loss_name`), each name's values in order: a
    line's leading loss is kept apart from its other metrics (fresh250
    `herbarium_label_copyexpand`: `nll_sent` 44.0 -> 0.62 beside `floor_nll_sent` 0.61086 at
    every validation, a floor the program computes once)."""
    out: dict[str, list[float]] = {}
    for record in raw.learning:
        value = decode_number(record.get("loss"))
        if value is not None and record.get("loss_name"):
            out.setdefault(str(record["loss_name"]), []).append(value)
    return out


def beside_learning(every: dict[str, list[float]], name: str) -> bool:
    """Another loss-like metric of the run fell, or a held-out metric moved: a number fixed
    beside them (`name`) is a reference the program prints, not the model it trains."""
    others = [v for n, v in every.items()
              if n != name and metric_names.role(n) == metric_names.LOSS]
    return any(fell(v) for v in others) or evaluated_moves(every, name)


def printed_reference(raw: RawResult, losses: list[float]) -> bool:
    """The run's loss (`losses`, as the trend rule reads it) is one value at every one of
    >= MIN_REPORTS reports beside metrics that learn (`beside_learning`): a baseline read as
    the loss, which no trend judges (fresh221 `organ_voicing_vae_anneal`:
    `mean_spectrum_mse 1.0085` at all 24 epochs beside val_elbo 15.34 -> 4.25)."""
    return (len(losses) >= MIN_REPORTS and len(set(losses)) == 1
            and beside_learning(printed(raw), program.loss_name(raw)))


def printed(raw: RawResult) -> dict[str, list[float]]:
    """Each printed metric's values in report order."""
    return {name: [v for _, v in points] for name, points in metrics.series(raw).items()}


def fell(values: list[float]) -> bool:
    """The last third's median is below FELL x the first third's, or below FELL x the first
    value (finite values): a fall in the first reports counts too (fresh129
    `zeppelin_gascell_vae_cyclic`: `val_recon` 5.80 -> 3.36 by its second report, then
    2.95-3.30, beside `mean_trace_recon` 25.7043 at all 16 reports, the mean trace's own error,
    a reference)."""
    medians = thirds(values)
    if medians is None:
        return False
    first, last, start = medians
    return last < FELL * first or last < FELL * start


def constant(raw: RawResult, meta: dict) -> Verdict | None:
    found = frozen(raw)
    if found is None or settled(raw) or zero_logit.at_ln2(found[1][0]):
        return None  # a converged fit (`settled`); ln 2, a logit of 0: `zero_logit` says why
    name, values = found
    evidence = {"metric": name, "value": values[0], "reports": len(values),
                "min_reports": MIN_REPORTS, "min_digits": MIN_DIGITS}
    return Verdict("not_learning", "constant", f"the loss `{name}` printed the same value "
                   f"{values[0]:g} at all {len(values)} reports (>= {MIN_REPORTS}, "
                   f">= {MIN_DIGITS} significant digits): what it measures never changed",
                   HINT.format(name=name), evidence)


RULES = (
    Rule("not_learning.constant", "metrics", f"a loss-like metric one value at every report "
         f"(>= {MIN_REPORTS} reports, >= {MIN_DIGITS} significant digits); not when another "
         f"loss (the run's own loss as its reports named it included) fell by > "
         f"{1 - FELL:.0%} or a held-out metric moved by > {MOVED:.0%}, nor when "
         "the parameters moved and then stood bit-still at a constant rate (`settled`)",
         "failure corpus: fresh6 trainer_local_model_shadow (mlx-swift-examples PR 110), "
         "manual_sgd_flat_update_nonstrict (mlx PR 2239); fresh161 "
         "funicular_mrt_customvjp_allsum_restore (a baseline beside val rmse); fresh219 "
         "sphagnum_cover_ridge_sgd_ok (converged before its first report); fresh250 "
         "herbarium_label_copyexpand (a floor beside the falling loss)", constant),
)
