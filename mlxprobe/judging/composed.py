"""Signal: a loss that is the sum of terms the program prints beside it, each of which ended
below where it started.

Job: many programs print the parts of their objective beside the total (`loss 1.84 l1 0.18
SC 0.76 logmag 0.93`). Where the total equals the sum of some of those printed terms at each of
the last reports, and every one of those terms ended at or below its first report, no part of
the objective blew up: the total rose only because parts joined it or their weights grew (a
second stage that adds a term), and the explosion rule stands down.

Thresholds and why: the sum within TOL (1%) of the total at each of the LAST (3) finite reports
that print the terms, over >= MIN_TERMS (2) terms (one term equal to the total is a copy of
it, no decomposition), found among at most MAX_TERMS (10) printed numbers that are no rate;
each term > TOL of the total there (a term at 0 makes any copy of the total a sum of two);
each term's last report <= its first. Over the 1,649 kept runs at this signal's writing, 6
other runs print such a sum (VAE totals of reconstruction and KL among them); none of them
is judged an explosion, with or without it. Measured: fresh281 `hollowreed_mel_vocoder` (correct:
a vocoder trained on an L1 loss, then from step 110 on L1 + spectral convergence + log
magnitude; the total 0.150 -> 3.71 -> 1.85, read as `diverged:exploding`, while l1 0.43 ->
0.16, SC 2.18 -> 0.76 and logmag 3.43 -> 0.93 all fell; the total matched l1 + SC + logmag to
0.1% at every report of the second stage). A run that blows up prints the part that blew, which
rose, or does not print it, and then no printed sum equals its total.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import itertools
import math

from ..protocol import decode_number
from ..watching.facts import RawResult

TOL = 0.01
LAST = 3
MIN_TERMS = 2
MAX_TERMS = 10


def parts_fell(raw: RawResult) -> dict | None:
    """The printed terms whose sum is the loss at each of the last reports, when each of them
    ended at or below its first report; else None."""
    reports = [(loss, r.get("metrics") or {}) for r in raw.learning
               if (loss := decode_number(r.get("loss"))) is not None and math.isfinite(loss)]
    if len(reports) < LAST:
        return None
    last = reports[-LAST:]
    names = sorted(set.intersection(*(set(terms(m)) for _, m in last)))[:MAX_TERMS]
    for size in range(MIN_TERMS, len(names) + 1):
        for chosen in itertools.combinations(names, size):
            if all(sums_to(loss, metrics, chosen) for loss, metrics in last) \
                    and all(fell(reports, n) for n in chosen):
                return {"loss_terms": list(chosen)}
    return None


def terms(metrics: dict) -> list[str]:
    """Printed numbers that may be parts of a loss: finite, >= 0, no rate (a flag or a text
    handed over as a metric is none: a full `pytest -n 2` run's property test once drew a
    report whose term was the string 'nan' one report and a number the next)."""
    return [n for n, v in metrics.items() if "rate" not in n and n != "lr"
            and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v) and v >= 0]


def sums_to(loss: float, metrics: dict, names: tuple[str, ...]) -> bool:
    """The terms add up to the loss within TOL, each a part of it larger than TOL (a term at
    0 would make any copy of the loss a sum of two)."""
    total = sum(metrics[n] for n in names)
    return loss > 0 and abs(total - loss) <= TOL * loss and all(
        metrics[n] > TOL * loss for n in names)


def fell(reports: list[tuple[float, dict]], name: str) -> bool:
    """The term's last report is at or below its first."""
    values = [m[name] for _, m in reports if isinstance(m.get(name), (int, float))]
    return len(values) >= 2 and values[-1] <= values[0]
