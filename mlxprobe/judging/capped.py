"""Rule unit: a weight held at the equilibrium of an optimizer's decoupled weight decay while
the loss stopped falling.

Job: AdamW and Lion step each weight by about the learning rate whatever its gradient's
scale, and take learning rate x weight_decay x w from it at each step: a weight the loss
keeps pushing outward settles where the two balance, |w| ~ 1 / weight_decay (100 for
AdamW's default 0.01), whatever the learning rate. The parameter looks (`inside/params.py`)
carry the largest sampled float32 magnitude (`peak_abs`); a peak that grew from below
GREW x the cap and sits within [NEAR, OVER] x 1 / weight_decay at each of the last LAST
looks, while the loss's last third is no lower than STOPPED x its middle third's median,
is a model held back by the decay (a target on its raw scale, a large intercept).

Thresholds and why: NEAR = 0.9, OVER = 1.02 (measured: fresh59 `thermistor_cal_adamw_decay`,
whose bias overshot to 114 and settled at 99.1-99.3 over its last four looks; fresh56
`kwh_weekly_adamw`, an intercept of 100.00); CAP_MIN = 5 (a decay of at most 0.2: a cap
near 1 is where LayerNorm scales start); GREW = 0.5 (a weight that started near the cap,
as a scale initialised at 1 does, is not one the decay stopped); STOPPED = 0.95. No clean
run of the corpus or the catalogue has a peak there (checked with the scorer).

Must not import: mlx, the runner.
"""

from __future__ import annotations

import statistics

from ..protocol import PARAMS
from ..watching.facts import RawResult
from . import decay, program
from .rule import Rule, Verdict

NEAR, OVER = 0.9, 1.02
CAP_MIN = 5.0
GREW = 0.5
STOPPED = 0.95
LAST = 3


def held(raw: RawResult, cap: float) -> dict | None:
    """The peaks of the last LAST looks after updates, all within [NEAR, OVER] x `cap`,
    after a first look below GREW x `cap`; else None."""
    looks = [r for r in raw.of_kind(PARAMS) if r.get("peak_abs") is not None]
    if len(looks) < LAST + 1 or looks[0]["peak_abs"] >= GREW * cap:
        return None
    last = looks[-LAST:]
    if not all(NEAR * cap <= float(r["peak_abs"]) <= OVER * cap for r in last):
        return None
    return {"peaks": [r["peak_abs"] for r in last], "group": last[-1].get("peak_group", ""),
            "first_peak": looks[0]["peak_abs"], "cap": cap}


def stopped(losses: list[float]) -> tuple[float, float] | None:
    """(middle third's median, last third's median) when the last is no lower than STOPPED
    x the middle (>= 6 values), else None."""
    if len(losses) < 6:
        return None
    third = len(losses) // 3
    middle = statistics.median(losses[third:2 * third])
    last = statistics.median(losses[2 * third:])
    return (middle, last) if last >= STOPPED * middle else None


def capped(raw: RawResult, meta: dict) -> Verdict | None:
    optimizer = decay.decoupled(raw)
    if optimizer is None or 1 / optimizer[1] < CAP_MIN:
        return None
    name, rate = optimizer
    found, flat = held(raw, 1 / rate), stopped(program.losses(raw))
    if found is None or flat is None:
        return None
    return Verdict("not_learning", "decay_capped", f"{name}'s weight decay ({rate:g}) holds "
                   f"the largest weight ({found['group'] or 'a parameter'}) at |w| = "
                   f"{found['peaks'][-1]:.4g} at each of the last {LAST} looks, within "
                   f"{NEAR:g}-{OVER:g}x 1 / weight_decay = {1 / rate:g}, after it grew from "
                   f"{found['first_peak']:.3g}, while the loss stopped falling (median "
                   f"{flat[0]:.4g} in its middle third, {flat[1]:.4g} in its last)",
                   decay.NOTE.format(name=name, decay=rate, cap=1 / rate).rstrip("; ") + ".",
                   {**found, "loss_middle": flat[0], "loss_last": flat[1]})


RULES = (
    Rule("not_learning.decay_capped", "params", f"AdamW or Lion with weight_decay in (0, "
         f"{1 / CAP_MIN:g}]; the largest sampled float32 magnitude within {NEAR:g}-{OVER:g}x 1 / "
         f"weight_decay at each of the last {LAST} looks, after a first look below "
         f"{GREW:g}x it; the loss's last-third median >= {STOPPED:g}x its middle third's",
         "failure corpus: fresh59 thermistor_cal_adamw_decay (SceneWorks PR 132), fresh56 "
         "kwh_weekly_adamw (mlx PR 2557); the decay's equilibrium", capped),
)
