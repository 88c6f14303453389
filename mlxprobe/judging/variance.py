"""Fix text: a diverged VAE whose KL term, or printed log-variance, is far past any trained
variance.

Job: `kl_note(raw)` is the lead of a divergence's fix when a KL metric the program prints
(`kl`, `kld`, `kl_loss`, any name `metric_names` keeps out of the loss as a KL) reached
KL_HUGE: a Gaussian KL of 1e12 needs exp(logvar) of about 1e12, a log-variance near 28,
where a trained encoder's sits within a few units of 0. Measured on fresh23
`vae_logvar_unclipped` (an encoder's unbounded log-variance head on raw counts): the KL
printed 3.3e26 at every epoch while its fixed twin (logvar clipped to [-10, 10]) printed
201,551 at most (its early epochs, 62 at the end). `logvar_note` says the same from a printed
log-variance LOGVAR_FAR from 0. A fix text only: no verdict depends on it.

Must not import: mlx, the watching side beyond its facts.
"""

from __future__ import annotations

import math

from .. import metric_names
from ..watching.facts import RawResult
from . import hints, metrics

KL_HUGE = 1e12
# a printed log-variance this far from 0: exp() of it is 1e13 or 1e-13, and a trained
# encoder's sits within a few units of 0 (fresh27 `molvae_mi_logvar_overflow`: mean_logvar
# -1.86 -> -6647 in 13 epochs under a mutual-information bonus, NaN from epoch 14; its fixed
# twin, logvar clipped to [-10, 10], at -8.5 to -2.6)
LOGVAR_FAR = 30.0


def kl_note(raw: RawResult) -> str:
    """The unbounded-variance lead when a KL metric reached KL_HUGE (or became non-finite),
    else ""."""
    for name, values in metrics.series(raw).items():
        if metric_names.kl(name) and any(
                not math.isfinite(v) or abs(v) >= KL_HUGE for _, v in values):
            return hints.KL_EXPLODED.format(name=name)
    return logvar_note(raw)


def logvar_note(raw: RawResult) -> str:
    """The unbounded-variance lead when a printed log-variance reached LOGVAR_FAR from 0, else
    ""."""
    for name, values in metrics.series(raw).items():
        far = [v for _, v in values if math.isfinite(v) and abs(v) >= LOGVAR_FAR]
        if metric_names.log_variance(name) and far:
            return hints.LOGVAR_FAR.format(name=name, value=max(far, key=abs))
    return ""
