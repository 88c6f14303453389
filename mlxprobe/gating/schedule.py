"""The gate's run order and the gathering of each side's runs into one report.

Job: order N rounds of BASE and HEAD runs as A B, B A, A B, ... so slow drift of the machine
(thermal, other work, caches warming) falls on both sides alike; then merge one side's
per-round reports into a single report whose runs carry their round as `repeat`.

Must not import: mlx, the runner.
"""

from __future__ import annotations

from ..errors import UsageError

BASE, HEAD = "base", "head"


def order(rounds: int, sides: tuple[str, ...] = (BASE, HEAD)) -> list[tuple[str, int]]:
    """[(side, round)]: sides in order on even rounds, reversed on odd ones (A B B A A B ...)."""
    out = []
    for r in range(rounds):
        out += [(side, r) for side in (sides if r % 2 == 0 else sides[::-1])]
    return out


def combine(parts: list[dict]) -> dict:
    """One report from a side's rounds (in round order); refuses rounds of different mlx."""
    if not parts:
        raise UsageError("no runs to combine")
    versions = {p.get("mlx_version") for p in parts}
    if len(versions) > 1:
        raise UsageError(f"one side ran different mlx versions: {sorted(map(str, versions))}")
    runs = [{**run, "repeat": r} for r, part in enumerate(parts) for run in part["runs"]]
    merged = {**parts[0], "complete": all(p.get("complete", True) for p in parts), "runs": runs}
    if not merged["complete"]:
        merged["missing"] = [{**m, "repeat": r} for r, part in enumerate(parts)
                             for m in part.get("missing") or []]
        merged["stopped"] = next((p["stopped"] for p in parts if p.get("stopped")), "")
    return merged
