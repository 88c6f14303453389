"""Rule unit: a KL divergence the program reports is negative, report after report.

Job: a Kullback-Leibler divergence is never below 0 (Gibbs' inequality). A run whose `kl`
(`val_kl`, `kl_loss`, `kl_div`) sits below 0 at most of its reports, and ends a nat or more
below it, is not computing a divergence: the objective's sign is flipped, so the optimizer
climbs it (a module returning `-loss` to `value_and_grad`, a log-likelihood returned where
its negative was meant), and the printed loss falls without bound while the model learns
nothing, or the divergence's terms are swapped.

Thresholds and why: a name that is a KL's (`KL`: `kl` as a word of it, `divergence`; not
`approx_kl`, PPO's one-sample k1 estimate, which is negative by noise); at >= MIN_REPORTS
finite reports, at least NEGATIVE_SHARE of them below 0; the last <= -FLOOR nats. An unbiased
estimate of a divergence near 0 is negative about half the time and by its noise only, far
from a nat. Measured over the kept raw facts of fresh303-fresh341 (466 runs): 6 runs report a
KL, one of them negative: fresh341 `stroma_nb_counts_vae` (scvi-tools cf89a13: an scVI module
that returned `-loss`, so AdamW ascended the negative ELBO: `val_kl` -0.02 -> -14,101 at all
12 reports, train loss 51.7 -> -23,924; its fixed twin's KL stays positive).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import re

from ..watching.facts import RawResult
from . import metrics
from .rule import Rule, Verdict

KL = re.compile(r"(?i)(?:^|[_:.\s])kl(?:$|[_:.\s])|^kl|kl_?div|divergence")
NOT_KL = re.compile(r"(?i)approx")
MIN_REPORTS = 5
NEGATIVE_SHARE = 0.8
FLOOR = 1.0
HINT = ("a KL divergence is never negative, and `{name}` was below 0 at {negative} of its "
        "{reports} reports, ending at {last:.4g}: the objective's sign is flipped, so the "
        "optimizer climbs it (a module or loss function returning `-loss`, or a "
        "log-likelihood, to `value_and_grad`: return the negative ELBO, reconstruction NLL + "
        "KL, and minimise it) or the divergence's terms are swapped (KL(q || p) = E_q[log q - "
        "log p]; for diagonal Gaussians 0.5 * sum(sigma^2 + mu^2 - 1 - log sigma^2) against "
        "a standard normal). A loss that falls without bound beside it is that climb")


def negative(raw: RawResult) -> tuple[str, list[float], int] | None:
    """(name, finite values, how many below 0) of the first KL series below 0 at
    NEGATIVE_SHARE of >= MIN_REPORTS reports, ending at <= -FLOOR."""
    for name, values in metrics.series(raw).items():
        finite = [v for _, v in values if math.isfinite(v)]
        if not KL.search(name) or NOT_KL.search(name) or len(finite) < MIN_REPORTS:
            continue
        below = sum(v < 0 for v in finite)
        if below >= NEGATIVE_SHARE * len(finite) and finite[-1] <= -FLOOR:
            return name, finite, below
    return None


def negative_kl(raw: RawResult, meta: dict) -> Verdict | None:
    found = negative(raw)
    if found is None:
        return None
    name, values, below = found
    return Verdict("wrong_result", "negative_kl", f"`{name}`, a KL divergence, was below 0 at "
                   f"{below} of {len(values)} reports (>= {NEGATIVE_SHARE:.0%}) and ended at "
                   f"{values[-1]:.4g} (<= -{FLOOR:g})", HINT.format(
                       name=name, negative=below, reports=len(values), last=values[-1]),
                   {"metric": name, "negative": below, "reports": len(values),
                    "first": values[0], "last": values[-1], "negative_share": NEGATIVE_SHARE,
                    "floor": -FLOOR})


RULES = (
    Rule("wrong_result.negative_kl", "metrics", f"a KL divergence (not approx_kl) below 0 at "
         f">= {NEGATIVE_SHARE:.0%} of >= {MIN_REPORTS} reports, the last <= -{FLOOR:g}",
         "Gibbs' inequality; failure corpus: fresh341 stroma_nb_counts_vae (scvi-tools "
         "cf89a13)", negative_kl),
)
