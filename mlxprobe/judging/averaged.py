"""Rule unit: a reported average that lies outside the values it averages.

Job: a program that prints a metric for its batches (`loss 0.039`) and then an average of it
for the epoch (`Average Loss 0.408`, `avg_loss`, `mean_loss`) states a fact any average obeys:
it lies between the smallest and the largest of its parts. When, epoch after epoch, the
average is several times the largest batch value printed since the previous average (or a
fraction of the smallest), the printed average is not the average of those values: a scale
is wrong in the bookkeeping, most often a loss already divided by the accumulation steps
multiplied back by them (or the other way round), or a sum divided by the wrong count. The
run may train well; what it reports is wrong, and so is every decision taken on it (early
stopping, a schedule on plateau, a comparison of runs).

Thresholds and why: windows of at least MIN_PARTS batch values between two reports of the
average (the batch lines are a sample of the epoch's batches: every k-th batch); the last
half of the windows, at least WINDOWS of them, all outside [min / RATIO, RATIO x max] (an
average of the whole epoch may leave the printed sample's range a little, by noise, never by
2x every epoch; the first epochs are left out: there the average holds the untrained first
batches that the sample may miss), and by a steady factor (the largest at most STEADY,
1.25x, the smallest: a scale wrong in the bookkeeping is one constant; a running mean kept
from the start of training, never reset, can sit above a fast-falling loss's recent values
too, but by a factor that shrinks as its early values are diluted; and an average within
RATIO of the mean of every base value printed since the start is not judged: it may be such
a running mean). Measured: fresh47 `gridbox_accum_loss_inflated`
(mlx-playground fd346c0): the last 10 epochs' Average Loss 0.445 -> 0.408, each 10.4-10.9x
the largest batch loss printed in its epoch (0.039 -> 0.026); its fixed twin's 0.111 ->
0.102 within its batches' range (0.099-0.120). Over every kept run of the corpus (773
cases) no clean run fires.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import re

from .. import metric_names
from ..protocol import PROGRESS
from ..watching.facts import RawResult
from .readings import direction, numbers
from .rule import Rule, Verdict

AVERAGE = re.compile(r"(?:^|_)(?:avg|average|mean)(?:_|$)")
RATIO = 2.0
MIN_PARTS = 3
WINDOWS = 3
STEADY = 1.25
HINT = ("the printed `{name}` is not the average of the `{base}` values printed before it: "
        "check the bookkeeping that sums it, where a scale is applied twice or not at all: a "
        "micro-batch loss already divided by the accumulation steps and multiplied back by "
        "them when added to the epoch's total (add `loss.item()` as it is, or divide the "
        "undivided sum once), a total divided by the number of optimizer steps where it "
        "summed micro-batches (or the other way round), a sum over tokens divided by the "
        "number of batches; report the mean of exactly what was added")


def base_of(name: str) -> str | None:
    """`average_loss` -> `loss`, `avg_train_loss` -> `train_loss`; None for a plain name."""
    text = metric_names.normal(name)
    stripped = AVERAGE.sub("_", text).strip("_")
    return stripped if stripped and stripped != text else None


def windows(raw: RawResult, name: str, base: str) -> list[tuple[float, list[float], float]]:
    """(the average, the `base` values printed since the previous average, the mean of
    every `base` value printed so far) per report."""
    out: list[tuple[float, list[float], float]] = []
    parts: list[float] = []
    seen: list[float] = []
    for record in raw.of_kind(PROGRESS):
        named = {metric_names.normal(n): v for n, v in numbers(record).items()}
        if name in named:
            out.append((named[name], parts, sum(seen) / len(seen) if seen else 0.0))
            parts = []
        elif base in named:
            parts.append(named[base])
            seen.append(named[base])
    return out


def outside(window: tuple[float, list[float], float]) -> float | None:
    """How many times the average lies beyond its parts' range, when >= RATIO and it is no
    running mean of everything printed so far either (within RATIO of that mean)."""
    average, parts, so_far = window
    if average <= 0 or min(parts) <= 0 or so_far / RATIO <= average <= so_far * RATIO:
        return None
    factor = max(average / max(parts), min(parts) / average)
    return factor if factor >= RATIO else None


def judged(raw: RawResult, name: str, base: str) -> dict | None:
    full = [w for w in windows(raw, name, base) if len(w[1]) >= MIN_PARTS]
    last = full[len(full) // 2:]
    if len(last) < WINDOWS:
        return None
    factors = [outside(w) for w in last]
    if any(f is None for f in factors) or max(factors) > STEADY * min(factors):
        return None
    return {"metric": name, "base": base, "windows": len(last), "last": last[-1][0],
            "last_parts": [min(last[-1][1]), max(last[-1][1])],
            "factors": [round(min(factors), 2), round(max(factors), 2)],
            "ratio": RATIO, "min_parts": MIN_PARTS, "steady": STEADY}


def averaged(raw: RawResult, meta: dict) -> Verdict | None:
    names = {metric_names.normal(n) for r in raw.of_kind(PROGRESS) for n in numbers(r)}
    for name in sorted(names):
        base = base_of(name)
        if base in names and direction(base) is not None and not metric_names.held_out(name):
            found = judged(raw, name, base)
            if found is not None:
                return _verdict(found)
    return None


def _verdict(found: dict) -> Verdict:
    low, high = found["last_parts"]
    return Verdict("wrong_result", "averaged", f"`{found['metric']}` lay outside the range "
                   f"of the `{found['base']}` values printed before it in each of the last "
                   f"{found['windows']} reports ({found['factors'][0]:g}-"
                   f"{found['factors'][1]:g}x; last {found['last']:g} against {low:g}-"
                   f"{high:g}): an average lies between its parts",
                   HINT.format(name=found["metric"], base=found["base"]), found)


RULES = (
    Rule("wrong_result.averaged", "metrics", f"a metric named as an average (avg, average, "
         f"mean) outside [min / {RATIO:g}, {RATIO:g} x max] of the >= {MIN_PARTS} values of "
         f"its base metric printed since its previous report, in every one of the last half "
         f"of such reports (>= {WINDOWS}), by a steady factor (largest <= {STEADY:g}x "
         f"smallest), and not within {RATIO:g}x of the mean of every base value printed so far",
         "failure corpus: fresh47 gridbox_accum_loss_inflated (mlx-playground fd346c0)",
         averaged),
)
