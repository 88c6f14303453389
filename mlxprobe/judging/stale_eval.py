"""Rule unit: a held-out metric that never moves while the training loss falls most of the way.

Job: an evaluation of the model being trained moves as it trains; a held-out metric (val,
test, eval: `metric_names.held_out`) that prints one and the same value at every report,
while the training loss falls by most of its starting value, was not computed from the
trained weights: a deep copy of the model (or of a dict or config holding it) taken before
training, a second instance built for evaluation and never given the trained weights, a
checkpoint saved before training loaded for each evaluation. The run trains; what it
reports about held-out data is wrong, and so is anything decided on it.

Thresholds and why: at least MIN_REPORTS reports of the metric, all one value (as printed),
not a classification rate (accuracy, F1, AUC, hit rate, exact match: over a fixed held-out
set such a share can stay put while a model overfits its training set honestly; a loss, an
error, a PSNR of a model that trained moves), finite and not at a bound (an accuracy at 0 or
1 / 100%, any metric at 0: a task solved from the first report, a degenerate split; a
metric that names no loss at exactly 1 or 100 too: fresh27 `online_dpo_step_tuple_ok`'s
`held-out P(chosen>rej)`, a share at 1.000 from its first report); the
training loss finite, positive at its first report, and its last at least FALL below its
first (80%: a model that learned that much moves any evaluation of itself). Measured:
fresh49 `flatland_nerf_testcopy` (nerf_meets_mlx 71844e6, `deepcopy(render_kwargs_train)`):
test PSNR 9.59 at all 8 reports while the training loss fell 0.0175 -> 0.0013 (92%); its
fixed twin's test PSNR rose 20.9 -> 26.4. Over every kept run of the corpus, a held-out
metric constant over >= 4 reports is either at a bound (val_acc 1.0, val_ce 0.0 on clean
runs) or beside a loss that fell < 50% (not_learning runs, a data statistic such as
zip_claims_csv's `val_zero_share_obs`). A split's bare name with a whole number >= 2 is its
size (`train=720 val=180`), never judged. It stands down when another held-out metric of the run
trended (`evaluated`): the evaluated model moves, so the fixed number is a reference.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import re

from .. import metric_names
from ..watching import fields
from ..watching.facts import RawResult
from . import metrics, program
from .evaluated import MOVED, evaluated_moves
from .rule import Rule, Verdict

MIN_REPORTS = 5
FALL = 0.8
# a classification rate over a fixed, often small, held-out set can sit at one value while a
# model overfits its training set honestly (the share it gets right does not move): left out
RATES = re.compile(r"(?:^|_)(?:acc|accuracy|f1|auc|precision|recall|hit|hits|top\d+|em)(?:$|_|@)")
HINT = ("`{name}` read {value:g} at every one of its {reports} reports while the training "
        "loss fell {fall:.0%}: the evaluation does not see the trained weights. Look for a "
        "copy taken before training: `copy.deepcopy(model)` or a deep copy of a dict or "
        "config that holds the model (`render_kwargs_test = deepcopy(render_kwargs_train)`), "
        "a second instance built for evaluation and never given the trained weights, a "
        "checkpoint written before training and loaded for each evaluation; evaluate the "
        "model you train (share it, do not copy it), or copy its weights in before each "
        "evaluation (`eval_model.update(model.parameters())`)")


def frozen_metric(raw: RawResult) -> tuple[str, list[float]] | None:
    """A held-out metric with one value, off its bounds, at >= MIN_REPORTS reports."""
    for name, points in metrics.series(raw).items():
        values = [v for _, v in points]
        normal = metric_names.normal(name)
        if len(values) < MIN_REPORTS or len(set(values)) != 1 or not metric_names.held_out(
                normal):
            continue
        value = values[0]
        bound = value == 0 or (metric_names.role(normal) != metric_names.LOSS
                               and value in (1.0, 100.0))
        if math.isfinite(value) and not bound and not RATES.search(normal) \
                and not split_size(normal, value):
            return name, values
    return None


SPLIT_NAMES = fields.SPLITS | {"heldout", "held_out"}


def split_size(name: str, value: float) -> bool:
    """A split's bare name with a whole number >= 2 is how many examples it holds, not a
    measurement of them (fresh129 `firefly_flash_species_foldrestore`: `fold 1/5  train=720
    val=180` before each fold, read as a held-out `val` of 180 at every report; fresh190
    `hammock_sag_folds_warm0_log`: `fold 2/5 start: train 720, held-out 180`, a `held_out`)."""
    return name in SPLIT_NAMES and value.is_integer() and value >= 2


def reference(raw: RawResult, name: str) -> bool:
    """Another held-out metric of the run trended (`evaluated.evaluated_moves`): the evaluated
    model moves, so the fixed one measures something else (fresh199
    `cullet_sorter_betavae_jsonl`: `val_recon_meanspec` 19.7699, the mean spectrum's own
    error, at all 14 reports beside `val_recon` 1.84 -> 0.31)."""
    every = {n: [v for _, v in points] for n, points in metrics.series(raw).items()}
    return evaluated_moves(every, name)


def loss_fall(raw: RawResult) -> float | None:
    losses = program.losses(raw)
    if len(losses) < 2 or not all(math.isfinite(v) for v in losses) or losses[0] <= 0:
        return None
    return (losses[0] - losses[-1]) / losses[0]


def stale(raw: RawResult, meta: dict) -> Verdict | None:
    found = frozen_metric(raw)
    fall = loss_fall(raw) if found else None
    if found is None or fall is None or fall < FALL or reference(raw, found[0]):
        return None
    name, values = found
    evidence = {"metric": name, "value": values[0], "reports": len(values),
                "loss_fall": round(fall, 4), "min_reports": MIN_REPORTS, "fall": FALL}
    return Verdict("wrong_result", "stale_evaluation", f"held-out `{name}` read {values[0]:g} "
                   f"at every one of {len(values)} reports while the training loss fell "
                   f"{fall:.0%}: the evaluated model is not the trained one",
                   HINT.format(name=name, value=values[0], reports=len(values), fall=fall),
                   evidence)


RULES = (
    Rule("wrong_result.stale_evaluation", "metrics", f"a held-out metric, not a "
         f"classification rate, one value at every one of >= {MIN_REPORTS} reports (finite, "
         f"not 0, not at its ceiling) while "
         f"the training loss fell >= {FALL:.0%} from its first report to its last, and no "
         f"other held-out metric moved by > {MOVED:.0%}",
         "failure corpus: fresh49 flatland_nerf_testcopy (nerf_meets_mlx 71844e6)", stale),
)
