"""Fix text: a loss that climbed back steadily from its low, report after report, not in a
jump.

Job: `note(losses)` leads the `diverged:exploding` hint when the loss reached its lowest
after its first report and then rose at >= STEADY of the >= MIN_REPORTS reports after that
low, with no single rise more than LARGEST of the whole climb. A step too large blows a run
up within a few reports; a climb spread evenly over many reports after the run had learned is
a pull that acts at every step: a weight decay that subtracts a constant instead of a share
of each weight (`p - lr * (update + wd)` instead of `wd * p`), a decay or a penalty too
strong for the learning rate, the weights rounded or projected after each update (fresh63
`qat_grid_snapback`'s climb is as steady), a learning rate that grows.

Thresholds and why: MIN_REPORTS = 5, STEADY = 0.8, LARGEST = 0.5. Measured on fresh138
`kilnwatt_adamw_broken` (mlx-playground 6d649d7, "AdamW correction"): train mse 0.116 at
iter 600, then 0.122, 0.145, 0.167, 0.240, 0.288, 0.357, 0.437, 0.473, 0.503 (9 rises of 9,
the largest 19% of the climb); its fixed twin falls to 0.0195. A fix text only: no verdict
depends on it.

Must not import: mlx, the runner, reporters.
"""

from __future__ import annotations

MIN_REPORTS = 5
STEADY = 0.8
LARGEST = 0.5


def climb(losses: list[float]) -> tuple[int, float, int] | None:
    """(index of the low, the low, reports after it) when the loss climbed steadily from its
    low, else None."""
    if not losses:
        return None
    low_at = min(range(len(losses)), key=losses.__getitem__)
    after = losses[low_at:]
    rises = [b - a for a, b in zip(after, after[1:])]
    total = after[-1] - after[0]
    if low_at == 0 or len(rises) < MIN_REPORTS or total <= 0:
        return None
    steady = sum(r > 0 for r in rises) >= STEADY * len(rises)
    return (low_at, losses[low_at], len(rises)) if steady and max(rises) <= LARGEST * total \
        else None


def note(losses: list[float]) -> str:
    """The text that leads the hint, or "" when the climb was not steady."""
    found = climb(losses)
    if found is None:
        return ""
    _, low, reports = found
    return (f"the loss climbed back steadily from its low ({low:.4g}) over {reports} reports, "
            "not in one jump: something pulls the weights a little at every step rather than "
            "one step too large: a weight decay that subtracts a constant instead of a share "
            "of each weight (`p - lr * (update + wd)`: write `wd * p`), a decay or a penalty "
            "too strong for the learning rate, the weights rounded or projected after each update, "
            "a learning rate that grows. Else: ")
