"""The learning curve rule: the same seeded program on two mlx versions should learn alike.

Job: from the runs of one variant on each side, the loss over the steps every run recorded
(a watched program's loss from another source than its steps is in `series["loss_at"]`),
then a noise-aware judgement:

- Losses that are all positive are compared as log(loss): the run-to-run noise of a falling
  loss is a share of it (measured: SGD on random batches, 3 runs differ by x1.5-x4 when the
  loss is 1e-4), not a constant.
- The noise band at each step is `ratio` times the widest spread (max - min) of one side's
  runs there: what the same program on the same mlx already varies by. Seeded runs are often
  bit-identical, so the band is never narrower than `floor` times how far BASE's curve moved
  (max - min of its median; a cross-entropy that falls from 6.44 to 6.31 moved 0.13, whatever
  its level), nor than 0.1% of the loss.
- `worse`: the HEAD median curve leaves the band (either way: learning faster is learning
  differently too) on at least `OUTSIDE_SHARE` of the matching steps, or its final loss
  (median of the last 10% of matching steps, at least 3) differs by more than the band there.
- With one run on a side there is no measured noise: a curve outside the floor band is only
  `worse?`, never a failure (as for timings without enough runs for the rank test).

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

OUTSIDE_SHARE = 0.25  # share of matching steps outside the band that makes a curve differ
MIN_STEPS = 3  # fewer matching steps than this: no curve to compare
FLOAT_NOISE = 1e-3  # the narrowest band of all, a share of the loss
TAIL = 0.1  # the final loss: median of the last 10% of matching steps (at least 3)


@dataclass(frozen=True)
class Band:
    """Both sides' median curves over the matching steps and the band around BASE's."""

    steps: tuple[float, ...]
    base: tuple[float, ...]  # median over BASE runs at each step
    head: tuple[float, ...]
    half: tuple[float, ...]  # the band's half-width at each step
    runs: tuple[int, int]  # runs with a curve: BASE, HEAD
    logs: bool = False  # base, head and half are of log(loss)

    def loss(self, value: float) -> float:
        """A value of `base` or `head` as a loss."""
        return math.exp(value) if self.logs else value

    @property
    def outside(self) -> list[int]:
        """Indices of the steps where HEAD's median lies outside BASE's band."""
        return [i for i, (b, h, w) in enumerate(zip(self.base, self.head, self.half))
                if abs(h - b) > w]

    @property
    def tail(self) -> int:
        """How many of the last steps the final loss is the median of."""
        return min(len(self.steps), max(MIN_STEPS, math.ceil(TAIL * len(self.steps))))

    def final(self, which: tuple[float, ...]) -> float:
        return statistics.median(which[-self.tail:])

    @property
    def final_half(self) -> float:
        return statistics.median(self.half[-self.tail:])


@dataclass(frozen=True)
class Verdict:
    state: str  # "worse", "worse?" or "same"
    band: Band
    detail: str  # e.g. "12 of 40 steps outside the noise band (above), final 0.41 -> 0.52"


def curve(run: dict) -> dict[float, float]:
    """{step: loss} of one run: finite losses only, from `loss_at` when the run has it."""
    series = run.get("series") or {}
    source = series.get("loss_at") or series
    steps, losses = source.get("step") or [], source.get("loss") or []
    return {float(s): float(v) for s, v in zip(steps, losses)
            if _number(s) and _number(v) and math.isfinite(v)}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def band(base_runs: list[dict], head_runs: list[dict], ratio: float,
         floor: float) -> Band | None:
    """The band over the steps every run with a curve recorded; None when a side has no
    curve or fewer than MIN_STEPS steps match. Losses that are all positive are compared
    in log space (the noise of a falling loss is a share of it, not a constant)."""
    base = [c for c in map(curve, base_runs) if c]
    head = [c for c in map(curve, head_runs) if c]
    if not base or not head:
        return None
    steps = sorted(set.intersection(*(set(c) for c in base + head)))
    if len(steps) < MIN_STEPS:
        return None
    logs = all(c[s] > 0 for c in base + head for s in steps)
    if logs:
        base = [{s: math.log(c[s]) for s in steps} for c in base]
        head = [{s: math.log(c[s]) for s in steps} for c in head]
    b = [statistics.median(c[s] for c in base) for s in steps]
    h = [statistics.median(c[s] for c in head) for s in steps]
    # the narrowest band (seeded runs repeat bit for bit: no measured noise): `floor` of how
    # far BASE's curve moved, and never less than float noise (FLOAT_NOISE of the loss)
    moved = floor * (max(b) - min(b))
    half = [max(ratio * max(_spread(base, s), _spread(head, s)), moved,
                math.log1p(FLOAT_NOISE) if logs else FLOAT_NOISE * abs(b[i]))
            for i, s in enumerate(steps)]
    return Band(tuple(steps), tuple(b), tuple(h), tuple(half), (len(base), len(head)), logs)


def _spread(curves: list[dict[float, float]], step: float) -> float:
    values = [c[step] for c in curves]
    return max(values) - min(values)


def judge(base_runs: list[dict], head_runs: list[dict], ratio: float,
          floor: float) -> Verdict | None:
    """The learning-curve verdict of one variant; None when there is no curve to compare."""
    found = band(base_runs, head_runs, ratio, floor)
    if found is None:
        return None
    outside = found.outside
    b_final, h_final = found.final(found.base), found.final(found.head)
    final_moved = abs(h_final - b_final) > found.final_half
    differs = final_moved or len(outside) >= OUTSIDE_SHARE * len(found.steps)
    measured = min(found.runs) >= 2  # a side with one run measured no noise
    state = ("worse" if measured else "worse?") if differs else "same"
    return Verdict(state, found, _detail(found, outside, b_final, h_final))


def _detail(found: Band, outside: list[int], b_final: float, h_final: float) -> str:
    above = sum(1 for i in outside if found.head[i] > found.base[i])
    way = "above" if above * 2 >= len(outside) else "below"
    text = f"{len(outside)} of {len(found.steps)} steps outside the noise band"
    text += f" ({way})" if outside else ""
    width = f"±{found.final_half:.2g}"
    if found.logs:  # a factor either way: as a percentage while it is small
        factor = math.exp(found.final_half)
        width = f"±{(factor - 1) * 100:.2g}%" if factor < 2 else f"x/÷{factor:.3g}"
    return text + (f", final loss {found.loss(b_final):.4g} -> {found.loss(h_final):.4g} "
                   f"(band {width})")
