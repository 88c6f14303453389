"""Where a loss's own weighting stopped changing: a printed coefficient that ramped, then held.

Job: a program that warms up a coefficient of its objective (a VAE's KL weight `beta` going
0 -> 0.4 over the first epochs, an auxiliary term's lambda) changes what its loss measures
while it ramps: the KL term it adds grows with the weight, so the printed total can rise for
as long as the ramp lasts while the model learns. The loss before and after the ramp are
values of different objectives. When the whole curve shows no fall, the trend rule looks
again at the loss from the report where the coefficient reached the value it then held, and
stands down if that part falls (`verdict._judged_start`): the cut only takes a verdict back,
so a schedule that ends at a floor (a learning rate decayed to 0 too early) never hides a
flat loss, and a run that converged during its warm-up is never judged on its flat tail.

The coefficient is any number the program prints beside its loss that is neither a loss,
an accuracy nor a reward, a counter (step, epoch, stage: `phases` has those), a time or a
size (`metric_names.role` OTHER), that moved one way only through at least MIN_VALUES
distinct values and then repeated its last value at least HELD times. A metric that keeps
moving (a mutual-information estimate, a gradient norm) never holds, so it never cuts; one
that never moved (a firing rate stuck at 0) has no ramp.

The explosion rule asks it too: a total that rose while a coefficient (no learning rate)
ramped, while a term it weighs gave way at every report (`gave_way`) or that fell at each
report after the ramp (an attack radius ramped in adversarial training), and that held after
the ramp, is the objective growing, not a blow-up; a loss too short after the ramp for a
trend stands the trend rule down the same way.

Thresholds and why: MIN_VALUES = 3 (a ramp, not a toggle), HELD = 3 reports. Measured
(failure corpus fresh21 `vae_mi_penalty_unbounded_ok`, a beta-VAE with a KL warm-up): the
total loss went 2.58 -> 3.24 over epochs 1-5 while beta went 0 -> 0.4 and recon fell 2.58 ->
1.31; with beta held at 0.4 (epochs 5-10) it fell 3.24 -> 3.06, every epoch lower.

A loss printed under a loss's name can itself be such a coefficient (`l1 0.124` for an L1
penalty's weight, not an L1 loss): `scheduled_loss` reads the loss reports as a schedule
when they ramped and held as above and every report of the ramp is the same multiple of its
step within SCHEDULE_TOLERANCE (2%): a warm-up from 0, linear in the step, as no measured
loss is. Measured: fresh368 `jacquard_card_sae` (correct, a sparse autoencoder whose L1
weight ramps 0 -> 0.3 over 600 steps): `l1` 0.124, 0.249 at steps 250 and 500 (4.96e-4 and
4.98e-4 a step), then 0.3 at the ten reports after, read as the loss,
`not_learning:trend`.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from .. import metric_names
from ..protocol import decode_number
from ..watching.facts import RawResult
from ..watching.store import PROGRESS_VIEW
from . import phases

MIN_VALUES = 3
HELD = 3
SCHEDULE_TOLERANCE = 0.02


def held_from(raw: RawResult, losses: list[float], rates: bool = True) -> int:
    """The index in `losses` (the run's finite losses, whole) of the first loss reported
    after every ramped coefficient reached its held value; 0 when none ramped or the loss
    records cannot be matched to `losses` (thinned). With `rates` False a learning rate is
    no coefficient: its warm-up changes the steps, not what the loss measures."""
    records = phases.loss_records(raw)
    since = max((t for name, (_, t) in _ramps(raw).items()
                 if rates or name not in metric_names.LEARNING_RATES), default=None)
    if since is None or len(records) != len(losses):
        return 0
    return next((i for i, r in enumerate(records) if _after(r.get("t"), since)), 0)


def held_since(raw: RawResult) -> dict[str, float]:
    """Each ramped coefficient's name and the value it held (the evidence)."""
    return {name: value for name, (value, _) in _ramps(raw).items()}


def _ramps(raw: RawResult) -> dict[str, tuple[float, float]]:
    """name -> (held value, time of the report where it was first reached)."""
    points: dict[str, list[tuple[float, float]]] = {}
    for record in raw.view(PROGRESS_VIEW).records():
        t = record.get("t")
        for name, value in (record.get("metrics") or {}).items():
            number = decode_number(value)
            if number is not None and isinstance(t, (int, float)) and _coefficient(name):
                points.setdefault(str(name), []).append((t, number))
    return {name: found for name, series in points.items()
            if (found := ramped(series)) is not None}


def gave_way(raw: RawResult) -> str | None:
    """A printed term the objective's weighting pushes on that gave way while it ramped:
    a metric (neither the loss, a coefficient, a learning rate, a counter, a time nor an
    accuracy) lower at every report from where a coefficient (no learning rate) began to
    move to where it held, >= MIN_VALUES reports, ending at or below half where it began
    (fresh127 `dishwasher_cycle_vae_klanneal`: kl 6.26 -> 1.69 at each report while beta
    went 0.1 -> 1). A term stuck where it began (fresh23 `vae_logvar_unclipped_broken`: kl
    3.33e26 throughout its KL weight's ramp 0 -> 25) gave nothing way."""
    ramps = _windows(raw)
    windows = [w for name, w in ramps.items() if name not in metric_names.LEARNING_RATES]
    if not windows:
        return None
    start, end = min(w[0] for w in windows), max(w[1] for w in windows)
    for name, series in _terms(raw, set(ramps)).items():
        inside = [v for t, v in series if start <= t <= end]
        if len(inside) >= MIN_VALUES and inside[0] > 0 and inside[-1] <= inside[0] / 2 and all(
                b < a for a, b in zip(inside, inside[1:])):
            return name
    return None


def _windows(raw: RawResult) -> dict[str, tuple[float, float]]:
    """name -> (time of the report where a ramped coefficient first moved, where it held)."""
    found = {}
    for name, (_, held) in _ramps(raw).items():
        series = _series(raw, name)
        moved = next((t for t, v in series if v != series[0][1]), held)
        found[name] = (moved, held)
    return found


def _terms(raw: RawResult, skip: set[str]) -> dict[str, list[tuple[float, float]]]:
    """The printed metrics a weighting may push on, each as (time, value)."""
    points: dict[str, list[tuple[float, float]]] = {}
    for record in raw.view(PROGRESS_VIEW).records():
        t = record.get("t")
        for name, value in (record.get("metrics") or {}).items():
            number = decode_number(value)
            if number is not None and isinstance(t, (int, float)) and name not in skip \
                    and metric_names.role(name) in (metric_names.OTHER, metric_names.LOSS) \
                    and not metric_names.stage_counter(name) \
                    and name not in metric_names.LEARNING_RATES:
                points.setdefault(str(name), []).append((t, number))
    return points


def _series(raw: RawResult, wanted: str) -> list[tuple[float, float]]:
    return [(r["t"], n) for r in raw.view(PROGRESS_VIEW).records()
            if isinstance(r.get("t"), (int, float))
            and (n := decode_number((r.get("metrics") or {}).get(wanted))) is not None]


def _coefficient(name: str) -> bool:
    return metric_names.role(name) == metric_names.OTHER \
        and not metric_names.stage_counter(name)


def ramped(series: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(held value, when first reached) of a series that moved one way through MIN_VALUES
    distinct values and then held its last value HELD reports; else None."""
    values = [v for _, v in series]
    if len(set(values)) < MIN_VALUES or len(values) < HELD or len(set(values[-HELD:])) != 1:
        return None
    steps = [b - a for a, b in zip(values, values[1:])]
    if not (all(s >= 0 for s in steps) or all(s <= 0 for s in steps)):
        return None
    first = values.index(values[-1])
    return values[-1], series[first][0]


def _after(t: object, since: float) -> bool:
    return isinstance(t, (int, float)) and t > since


def scheduled_loss(raw: RawResult) -> dict | None:
    """The loss reports as a coefficient's schedule (see the module's job), as evidence:
    the ramp's (step, value) pairs and the value held, with how many reports held it."""
    points = [(step, value) for r in raw.learning if isinstance(step := r.get("step"), int)
              and (value := decode_number(r.get("loss"))) is not None]
    found = ramped([(float(step), value) for step, value in points])
    if found is None:
        return None
    ramp = points[:[v for _, v in points].index(found[0])]
    if not _proportional(ramp):
        return None
    return {"ramp": ramp, "held": found[0], "held_reports": len(points) - len(ramp),
            "tolerance": SCHEDULE_TOLERANCE}


def _proportional(ramp: list[tuple[int, float]]) -> bool:
    """>= MIN_VALUES - 1 reports, each the same positive multiple of its step."""
    if len(ramp) < MIN_VALUES - 1 or any(step <= 0 or value <= 0 for step, value in ramp):
        return False
    ratios = [value / step for step, value in ramp]
    return max(ratios) <= (1 + SCHEDULE_TOLERANCE) * min(ratios)
