"""Rule units: the loss falls far while an R² the program reports stays below 0 (the model
predicts worse than the targets' mean, in the units the R² is taken in); an R² at 0 at every
report (the model predicts the targets' mean, whatever the loss did).

Job: a coefficient of determination (`metric_names.explained_variance`: `r2`, `r2_logp`,
`val_r2`, `r_squared`) is 0 for a model that predicts the targets' mean and 1 for a perfect
one; whatever the task, a model that learned anything of it scores above 0. When the loss
has fallen to a fraction of its start while the R² stayed below 0, what the loss rewards is
not what the R² measures: the targets reach the loss at another scale than the metric sees
them (normalised twice: once in the data and again in the loss; predictions not mapped back
before the metric), or the metric is taken against other targets.

Thresholds and why: the loss's trend over >= 10 reports falls significantly (Mann-Kendall
p < 0.05, `program.trend`) and its last window's median is at most HALF of its first
window's (a fall no slow fine-tune hides: a loss halved by learning moves an R² taken on
the same targets above 0); the R² at >= MIN_REPORTS reports, below 0 at every report of its
last half (its first reports may be below 0 while a model warms up). Measured (failure
corpus fresh36, `property_head_double_norm`, targets z-scored twice): train MSE 0.239 ->
0.0053 over 12 reports while R2 logP stayed in -0.14..-0.05 and R2 TPSA in -1.04..-0.97; the
fixed twin: R2 0.69 -> 0.95 and 0.70 -> 0.97. No clean corpus run reports an R² below 0
after its first reports.

`at_mean`: an R² within +-AT_MEAN of 0 at every one of >= MIN_REPORTS reports is a model that
predicts the mean and nothing else, at every evaluation of the run: no input reaches its
output (a latent collapsed to its prior, features zeroed). A model that learned anything
scores above 0, and one still warming up rises past AT_MEAN by its later reports. Measured:
failure corpus fresh349 `bellfoundry_tin_assay` (GeoArchon aa0b8cc: the VAE's KL summed over
the batch beside averaged reconstruction and property terms, a 64x weight that collapses the
posterior, latent |mu| 0.0018): r2 in -0.001..0.001 at all 30 reports, val MAE 280.4 =
the program's own predict-the-mean baseline; its fixed twin 0.831 -> 0.966. Of the 560 kept
runs of fresh303-fresh349 two others report an R² (fresh347 `alloy_quench_latent_ok`, 0.045 ->
0.994, and that twin): neither stays within 0.01. AT_MEAN = 0.01 is 10x the broken run's
largest |R²| and 4.5x below the lowest first report of a learning one.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from .. import metric_names
from ..watching.facts import RawResult
from . import metrics, program
from .rule import Rule, Verdict

HALF = 0.5
MIN_REPORTS = 6
AT_MEAN = 0.01
HINT = ("the loss fell while {name} stayed below 0: the predictions are worse than the "
        "targets' mean in the units {name} is taken in, so the loss and {name} see the "
        "targets differently. Scale the targets once: standardised (normalised) in the data "
        "and again inside the loss is twice, and a model fitted to doubly scaled targets "
        "predicts almost a constant; map predictions back with the same mean and std before "
        "the metric, and take it against the same targets as the loss: "
        "`r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()` on one scale")


def explained(raw: RawResult) -> Iterator[tuple[str, list[float]]]:
    """(name, finite values) of each R² the run reported at least MIN_REPORTS times."""
    for name, points in metrics.series(raw).items():
        values = [v for _, v in points if math.isfinite(v)]
        if metric_names.explained_variance(name) and len(values) >= MIN_REPORTS:
            yield name, values


def below_zero(raw: RawResult) -> tuple[str, list[float]] | None:
    """The first R² (>= MIN_REPORTS reports) below 0 at every one of its last half."""
    return next(((name, values) for name, values in explained(raw)
                 if max(values[len(values) // 2:]) < 0), None)


def predicted_below_mean(raw: RawResult, meta: dict) -> Verdict | None:
    found = below_zero(raw)
    fit = program.significant_fall(raw) if found else None
    if found is None or fit is None or fit["window_drop"] < HALF:
        return None
    name, values = found
    evidence = {"r2": name, "r2_first": values[0], "r2_max_last_half":
                max(values[len(values) // 2:]), "reports": len(values), "loss_trend": fit,
                "min_window_drop": HALF}
    return Verdict("not_learning", "below_mean", f"{program.fall_words(fit)} by "
                   f"{fit['window_drop']:.0%} from its first window while {name} stayed "
                   "below 0 at every one of "
                   f"its last {len(values) - len(values) // 2} reports (at most "
                   f"{evidence['r2_max_last_half']:.3g}): worse than predicting the mean",
                   HINT.format(name=name), evidence)


MEAN_HINT = ("{name} stayed at 0 at every report: the model predicts the targets' mean, so "
             "nothing of its inputs reaches its output. A latent collapsed to its prior is the "
             "commonest cause: a KL (or other regulariser) summed over the batch while the "
             "reconstruction and prediction terms are averaged weighs it batch-size times "
             "(divide it by the batch size, `kl = -0.5 * mx.sum(1 + logvar - mu ** 2 - "
             "mx.exp(logvar)) / mu.shape[0]`, or anneal its weight from 0); else inputs that "
             "reach the model as constants (a feature standardised to zeros, a stop_gradient "
             "on the encoder) or a learning rate far too small for the targets' scale")


def at_zero(raw: RawResult) -> tuple[str, list[float]] | None:
    """The first R² (>= MIN_REPORTS reports) within AT_MEAN of 0 at every one."""
    return next(((name, values) for name, values in explained(raw)
                 if max(abs(v) for v in values) <= AT_MEAN), None)


def predicted_the_mean(raw: RawResult, meta: dict) -> Verdict | None:
    found = at_zero(raw)
    if found is None:
        return None
    name, values = found
    evidence = {"r2": name, "r2_min": min(values), "r2_max": max(values),
                "reports": len(values), "at_mean": AT_MEAN}
    return Verdict("not_learning", "at_mean", f"{name} stayed within {AT_MEAN:g} of 0 at "
                   f"every one of its {len(values)} reports ({min(values):.3g} to "
                   f"{max(values):.3g}): the model predicts the targets' mean",
                   MEAN_HINT.format(name=name), evidence)


RULES = (
    Rule("not_learning.below_mean", "metrics", f"the loss falls significantly (p < "
         f"{program.TREND_P}) to a last window <= {HALF:g}x its first while an R² (>= "
         f"{MIN_REPORTS} reports) is below 0 at every report of its last half",
         "failure corpus: fresh36 property_head_double_norm (Raiden-Makoto/MLX-VAE a4556e9)",
         predicted_below_mean),
    Rule("not_learning.at_mean", "metrics", f"an R² (>= {MIN_REPORTS} reports) within "
         f"{AT_MEAN:g} of 0 at every report", "failure corpus: fresh349 bellfoundry_tin_assay "
         "(Raiden-Makoto/GeoArchon aa0b8cc)", predicted_the_mean),
)
