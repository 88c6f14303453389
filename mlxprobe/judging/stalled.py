"""Rule unit: the parameters stopped moving for the rest of the run (they changed by less
than float32 can resolve, per optimizer update), and the run's loss did not fall much.

Job: a network whose units died (a learning rate so high that the first steps push every
ReLU negative: their gradient is exactly 0 from then on), a schedule that decayed to ~0, a
gradient that vanished, all leave the same trace in the parameter looks (`inside/params.py`):
the median relative change of the sampled float32 parameters between two looks, divided by
the optimizer updates between them, falls below float32's resolution and stays there (looks
with no update since the last, as in a validation pass, are no evidence either way; a
compiled step whose `Optimizer.update` runs only while traced gives none). Bit-exact
comparisons (`params.frozen_*`) miss it: the last live units, rounding and momentum still
flip a few bits.

Thresholds and why: STALL = EPS / 2 = 5.96e-8 per update (EPS = 1.19e-7, float32's machine
epsilon: a relative step below it is lost to rounding for most values; a converged full-batch
fit moves by about EPS at its optimum, so the line is half of it); the stall is the looks from
some point to the end, at least MIN_LOOKS of them (looks are >= 0.25 s apart) spanning at least
HALF of the run's updates; the run's loss fell less than CONVERGED (50%), both as the trend rule
reads it (first tenth against last) and from its first report to the median of its second half:
a run that learned and converged early is never called stalled (fresh58
`homography_cauchy_outliers`, a robust fit whose Cauchy loss fell 3.86 -> 1.599 by its second
report and then held 1.59675 to the last digit, its parameters moving 4.3e-08 per update: the
trend's first tenth had already fallen; the dead units of `a15_deep_relu_no_warmup` fell 25%
that way, 2.77 -> 2.075, `backbone_lr_ratio_gradscale_adam` 42%, 2.31 -> ~1.35). A loss read
fewer than MIN_LOSSES times is no trend: not judged; nor a run in which another printed
quantity of no known direction moved by MOVED of its first value and then held within HELD
(`moved_and_held`: a fitted parameter, a deviance), or another loss halved. One never read is
not judged either: without
it a fit at its optimum (full-batch, its gradient ~0) and dead units look the same (fresh31
`hawkes_fibonacci_mle`, a correct MLE printing `F[ 89] nll/event +0.42338`, a shape the output
reader takes no loss from: 5.1e-08 per update in one run, 1.0e-07 in another). Measured (failure
corpus, old held-out half, `mlp_lr_too_high`, mlx issue 188): 3e-9 to 6e-9 per update in the 5
looks from update 167 to 459 of 500, the first layer bit-for-bit unchanged, accuracy flat at
~0.11; its fixed twin (lr 1e-3): 1.1e-6 to 2.7e-5 per update, still learning at 0.98. Correct
loops of the corpus and the catalogue's fixed variants stay above STALL per update (checked with
the scorer).

Must not import: mlx, the runner.
"""

from __future__ import annotations

import math

from .. import metric_names
from ..protocol import PARAMS
from ..watching.facts import RawResult
from . import elsewhere, metrics, program, schedule
from .rule import Rule, Verdict

EPS = 1.19e-7
# the stall line: half of EPS. A converged full-batch fit moves by about EPS at its optimum
# (fresh31 `hawkes_fibonacci_mle`: 1.0e-7 to 1.1e-7 per update, read as a stall in
# one run of two); dead units sit far below (mlp_lr_too_high 0 to 6e-9, cosine_decay_steps
# 1.6e-8, backbone_lr_ratio_gradscale_adam 3e-8)
STALL = EPS / 2
MIN_LOOKS = 3
HALF = 0.5
CONVERGED = 0.5
MIN_LOSSES = 3
MOVED = 0.5  # another printed quantity moved by half its first value ...
HELD = 0.01  # ... and its last third holds within 1% of its median: a fit that converged
HINT = ("the parameters stopped moving early (changes below float32's resolution per "
        "update): "
        "a learning rate too high that killed the units in the first steps (dead ReLUs: "
        "their gradient is exactly 0 from then on) — lower the learning rate 10x (e.g. "
        "1e-3 for SGD) and normalise the inputs; a loss summed over the batch (`.sum()`, "
        "`reduction='sum'`) makes that step batch-size times larger: average it "
        "(`reduction='mean'`) — or a learning-rate schedule that decayed "
        "to ~0 (check its decay steps count optimizer updates)")
# the optimizers that divide each coordinate's step by a running gradient scale: a constant
# factor on a group's gradients cancels there (fresh27 `backbone_lr_ratio_gradscale_adam`:
# backbone gradients x 0.01 meant as a 1% learning rate; Adam stepped the backbone at the
# full 5e-2 and killed its ReLUs within ~50 steps)
ADAPTIVE = ("Adam", "AdamW", "Adamax", "Lion", "Adafactor", "AdaDelta", "Adagrad", "RMSprop",
            "Muon")
ADAPTIVE_NOTE = ("; under {name}, which normalises each coordinate's step, a part of the model "
                 "slowed by scaling its gradients (`g * 0.01` as a smaller learning rate) is "
                 "not slowed at all: the constant cancels, so that part steps at the full "
                 "learning rate; give it its own optimizer (`optim.MultiOptimizer`) or scale "
                 "its update (`p = old + ratio * (new - old)`)")


def after_updates(looks: list[dict]) -> list[tuple[int, int, dict]]:
    """(previous look's update count, update count, the look) of the looks that measured a
    move after updates (a look after a validation pass, with no update since the last, is
    no evidence either way)."""
    out, last = [], None
    for look in looks:
        done = int(look.get("updates", 0))
        if last is not None and look.get("move_median") is not None and done > last:
            out.append((last, done, look))
        last = done
    return out


def per_update(looks: list[dict]) -> list[tuple[int, int, float]]:
    """(previous look's update count, update count, median relative change per optimizer
    update between them) of the looks that measured one after updates."""
    return [(last, done, float(look["move_median"]) / (done - last))
            for last, done, look in after_updates(looks)]


def stall(raw: RawResult) -> dict | None:
    """The looks from the first one below STALL that stays below it to the end."""
    moves = per_update(list(raw.of_kind(PARAMS)))
    tail = 0
    while tail < len(moves) and moves[-1 - tail][2] < STALL:
        tail += 1
    if tail < MIN_LOOKS:
        return None
    since, last = moves[-tail][0], moves[-1][1]
    if last - since < HALF * last:
        return None
    return {"since_update": since, "last_update": last, "looks": tail,
            "per_update": [float(f"{m:.3g}") for *_, m in moves[-tail:]],
            "before": [float(f"{m:.3g}") for *_, m in moves[:-tail]], "eps": STALL}


def learned(raw: RawResult) -> bool:
    """The loss fell by CONVERGED (the trend rule's window drop, as the warm-up rule reads
    it), or there is nothing left to learn: parameters stop moving when the gradient
    vanishes."""
    return (schedule.learned(raw, CONVERGED) or fell_from_first(program.losses(raw)) >= CONVERGED
            or moved_and_held(raw) is not None)


def moved_and_held(raw: RawResult) -> str | None:
    """Another quantity the program printed, of no known direction (a fitted parameter, a
    deviance), that moved by MOVED of its first value and whose last third holds within HELD
    of its median, or another loss that halved (`elsewhere.halved`): the fit moved and then
    converged (fresh63 `lee_carter_cargo_log`: its printed loss, a likelihood with a large
    constant, -7.762 -> -7.808, while `deviance/cell` fell 191.8 -> 0.844 and held; fresh31
    `hawkes_fibonacci_mle`: `beta` 0.775 -> 2.04). A counter keeps growing and does not hold;
    a learning rate, a norm, a gradient and a directional measure (an accuracy, an R², whose
    move from chance is what a dead network shows too) are not read."""
    judged = program.loss_name(raw)
    for name, points in metrics.series(raw).items():
        values = [v for _, v in points if math.isfinite(v)]
        if name == judged or len(values) < MIN_LOSSES or not _readable(name):
            continue
        if metric_names.role(name) == metric_names.LOSS:
            ends = elsewhere.thirds(values)
            if ends is not None and elsewhere.halved(values, ends):
                return name
        elif _moved(values) and _held(values):
            return name
    return None


def _readable(name: str) -> bool:
    """A quantity whose move says the fit moved: not a position, a time or rate, a learning
    rate, a gradient or a norm, nor a measure with a direction (`lower_is_better`)."""
    return (metric_names.role(name) in (metric_names.LOSS, metric_names.OTHER)
            and name not in metric_names.LEARNING_RATES and "grad" not in name
            and "norm" not in name and (metric_names.role(name) == metric_names.LOSS
                                        or metric_names.lower_is_better(name) is None))


def _moved(values: list[float]) -> bool:
    return values[0] != 0 and abs(values[-1] - values[0]) >= MOVED * abs(values[0])


def _held(values: list[float]) -> bool:
    last = program.last_third(values)
    middle = sorted(last)[len(last) // 2]
    return all(abs(v - middle) <= HELD * abs(middle) for v in last)


def fell_from_first(losses: list[float]) -> float:
    """How far the loss fell from its first report to the median of its second half, over
    the first's magnitude (a negative log-likelihood of a continuous density may start
    below 0: fresh62 `omori_aftershock_bulletin`, a converged MLE, -1.084 -> -2.059 per event
    before its parameters stopped moving, a fall of 90% of its first value); 0 when the first
    is 0."""
    if not losses or losses[0] == 0:
        return 0.0
    later = sorted(losses[len(losses) // 2:])
    return (losses[0] - later[len(later) // 2]) / abs(losses[0])


def stalled(raw: RawResult, meta: dict) -> Verdict | None:
    found = stall(raw)
    if found is None or len(program.losses(raw)) < MIN_LOSSES or learned(raw):
        return None
    frozen = _unchanged(raw, found["since_update"])
    found["unchanged_throughout"] = frozen
    named = f"; unchanged bit for bit: {', '.join(frozen[:6])}" if frozen else ""
    return Verdict("not_learning", "stalled", f"the parameters stopped moving: from update "
                   f"{found['since_update']} to {found['last_update']} ({found['looks']} looks) "
                   f"their median relative change per optimizer update was at most "
                   f"{max(found['per_update']):.2g}, below half of float32's resolution "
                   f"({STALL:.3g})"
                   f"{named}", HINT + _adaptive(raw), found)


def _adaptive(raw: RawResult) -> str:
    """ADAPTIVE_NOTE when the program built an adaptive optimizer."""
    name = next((n for n in program.optimizer_names(raw) if n in ADAPTIVE), None)
    return ADAPTIVE_NOTE.format(name=name) if name else ""


def _unchanged(raw: RawResult, since: int) -> list[str]:
    looks = [r for r in raw.of_kind(PARAMS) if r.get("compared")
             and int(r.get("updates", 0)) > since]
    names = set(looks[0].get("unchanged") or []) if looks else set()
    for look in looks[1:]:
        names &= set(look.get("unchanged") or [])
    return sorted(names)


RULES = (
    Rule("not_learning.stalled", "params", f"median relative parameter change < {STALL:.3g} "
         f"per update in >= {MIN_LOOKS} looks to the end spanning >= {HALF:.0%} of the "
         "updates; "
         f"the loss (read >= {MIN_LOSSES} times: not judged with fewer) fell < {CONVERGED:.0%} "
         "(first tenth to last, and first report to its second half's median, over the "
         f"first's magnitude), no other printed quantity moved >= {MOVED:.0%} and held within "
         f"{HELD:.0%} (nor another loss halved), and the loss is not "
         "at its floor (nor an accuracy at its ceiling)", "failure corpus: mlp_lr_too_high "
         "(mlx issue 188); float32's epsilon; no loss read: fresh31 hawkes_fibonacci_mle",
         stalled),
)
