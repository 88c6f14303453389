"""The shape of a memory series, in words and numbers: flat, a climb, a saw-tooth (its teeth
growing or not), or irregular.

Job: a pure description for the evidence of `leak` and `pass` verdicts, so a reader sees how
memory moved, not only a slope: a saw-tooth whose peaks grow (a leak paid back in part at
each evaluation), a saw-tooth with flat peaks (a backlog built between evaluations and freed
at each: memory is bounded), a steady climb (nothing is ever freed).

Thresholds and why (MB, after the first WARMUP of the series, as the leak rule skips):
- FLAT_MB = 8: RSS of a healthy run wanders by a few MB (verdict's leak floor is 16 MB).
- a drop is a fall of at least DROP_MB = 4 and DROP_SHARE = 25% of the series' range between
  two samples: the allocator returns a freed graph at once, noise does not fall that far.
- SAW_MIN_TEETH = 3 drops make a saw-tooth; its peaks grow when the last is at least
  FLAT_MB above the first.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from .stats import theil_sen

WARMUP = 0.2
FLAT_MB = 8.0
DROP_MB = 4.0
DROP_SHARE = 0.25
SAW_MIN_TEETH = 3
MIN_POINTS = 10


def describe(points: list[tuple[float, float]]) -> dict | None:
    """(time or step, MB) -> {"shape": ..., numbers}; None for too short a series."""
    body = points[int(len(points) * WARMUP):]
    if len(body) < MIN_POINTS:
        return None
    values = [v for _, v in body]
    span = max(values) - min(values)
    base = {"range_mb": round(span, 2), "points": len(body)}
    if span < FLAT_MB:
        return {"shape": "flat", **base}
    drops = _teeth(values)
    if len(drops) >= SAW_MIN_TEETH:
        return {**_saw(values, drops), **base}
    slope = theil_sen([t for t, _ in body], values)
    rise = slope * (body[-1][0] - body[0][0])
    shape = "climb" if rise >= 0.5 * span else "irregular"
    return {"shape": shape, "fitted_rise_mb": round(rise, 2), **base}


def tooth_peaks(points: list[tuple[float, float]]) -> list[tuple[float, float]] | None:
    """(time, MB) of each tooth's highest sample after the warm-up, when the series is a
    saw-tooth (as `describe` finds one); None otherwise."""
    body = points[int(len(points) * WARMUP):]
    values = [v for _, v in body]
    if len(body) < MIN_POINTS or max(values) - min(values) < FLAT_MB:
        return None
    drops = _teeth(values)
    if len(drops) < SAW_MIN_TEETH:
        return None
    bounds = [0, *drops, len(values)]
    return [max(body[a:b], key=lambda point: point[1]) for a, b in zip(bounds, bounds[1:])]


def _teeth(values: list[float]) -> list[int]:
    """Where the series fell by a tooth: DROP_MB and DROP_SHARE of its range at least."""
    return _drops(values, max(DROP_MB, DROP_SHARE * (max(values) - min(values))))


def _drops(values: list[float], least: float) -> list[int]:
    """Indices where memory fell by at least `least` from the previous sample."""
    return [i for i in range(1, len(values)) if values[i - 1] - values[i] >= least]


def _saw(values: list[float], drops: list[int]) -> dict:
    bounds = [0, *drops, len(values)]
    peaks = [max(values[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a]
    troughs = [values[i] for i in drops]
    growth = peaks[-1] - peaks[0]
    return {"shape": "saw-tooth, peaks growing" if growth >= FLAT_MB else "saw-tooth, flat peaks",
            "teeth": len(drops), "peak_first_mb": round(peaks[0], 2),
            "peak_last_mb": round(peaks[-1], 2), "tooth_mb_median":
                round(sorted(p - t for p, t in zip(peaks, troughs))[len(troughs) // 2], 2)}


def words(found: dict | None) -> str:
    """The shape in a few words for a verdict's reason."""
    if not found:
        return ""
    if found["shape"].startswith("saw-tooth"):
        return (f"{found['shape']} ({found['teeth']} teeth of ~{found['tooth_mb_median']:.0f} "
                f"MB, peaks {found['peak_first_mb']:.0f} -> {found['peak_last_mb']:.0f} MB)")
    return f"{found['shape']} (range {found['range_mb']:.0f} MB)"
