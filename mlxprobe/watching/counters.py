"""A training loop's step counter, read from outside: the main thread's integer locals across
several `pyspy.Look`s.

Job: among the integer locals of the main thread's frames (function, file, local name), find
the ones that never go back across the looks; the counter is the one that went up, named
like a step counter first (`global_step`, `step`, `it`, ... in that order), then the
outermost frame's (the loop that drives the step helpers); a step-named local that stayed put
is the step a stuck loop sits at. Also: how many distinct main-thread stacks the looks saw
(a stack that never changes is a stuck program; one that changes is moving).

Pure data in, data out. Must not import: mlx, psutil, judging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .pyspy import Look

STEP_NAMES = ("global_step", "step", "it", "iteration", "iter", "steps", "n_steps", "n", "i",
              "batch_idx", "idx", "epoch")
STUCK_NAMES = STEP_NAMES[:7]  # a counter that did not move is named only if it says "step"
MIN_LOOKS = 2
# frames that are not the program's: the standard library, a Jupyter kernel's machinery,
# mlxprobe's own agent (their locals are no training loop's counter)
MACHINERY = re.compile(r"/(IPython|ipykernel|tornado|asyncio|traitlets|zmq|jupyter_client|"
                       r"mlxprobe)/|/lib/python3\.\d+/[^/]+\.py$|^<frozen")


def machinery(file: str) -> bool:
    return bool(MACHINERY.search(file))


def program_frames(frames: tuple) -> list:
    """The innermost frames up to where a kernel's or the interpreter's machinery begins
    (a notebook cell's stack without the forty frames of ipykernel below it)."""
    out = []
    for frame in frames:
        if out and machinery(frame.file) and any(not machinery(f.file) for f in out):
            break
        out.append(frame)
    return out


@dataclass(frozen=True)
class Counter:
    name: str  # the local's name
    where: str  # "train (trainer.py)"
    first: int
    last: int
    t_first: float
    t_last: float
    looks: int

    @property
    def moved(self) -> bool:
        return self.last > self.first

    @property
    def rate(self) -> float | None:
        span = self.t_last - self.t_first
        return (self.last - self.first) / span if span > 0 else None

    def facts(self) -> dict:
        rate = self.rate
        return {"counter": self.name, "frame": self.where, "first": self.first,
                "last": self.last, "looks": self.looks,
                "per_s": round(rate, 3) if rate is not None else None}


def series(looks: list[Look], pid: int) -> dict[tuple[str, str, int, str], list[tuple]]:
    """(function, file, depth from the outermost frame, local) -> [(t, value)] over looks."""
    found: dict[tuple[str, str, int, str], list[tuple]] = {}
    for look in looks:
        main = look.main(pid)
        if main is None:
            continue
        for depth, frame in enumerate(reversed(main.frames)):
            if machinery(frame.file):
                continue
            for name, value in frame.ints.items():
                found.setdefault((frame.name, frame.file, depth, name), []).append(
                    (look.t, value))
    return found


def step_counter(looks: list[Look], pid: int) -> Counter | None:
    """The loop's counter: a local that went up and never back (step-named first, then the
    outermost); else a step-named local that stayed put; None when there is neither."""
    candidates = []
    for (func, file, depth, name), points in series(looks, pid).items():
        values = [v for _, v in points]
        if len(points) < MIN_LOOKS or any(b < a for a, b in zip(values, values[1:])):
            continue
        moved = values[-1] > values[0]
        named = STEP_NAMES.index(name) if name in STEP_NAMES else len(STEP_NAMES)
        if not moved and name not in STUCK_NAMES:
            continue
        rank = (not moved, named, depth)
        where = f"{func} ({file.rsplit('/', 1)[-1]})"
        candidates.append((rank, Counter(name, where, values[0], values[-1], points[0][0],
                                         points[-1][0], len(points))))
    return min(candidates, key=lambda c: c[0])[1] if candidates else None


def unchanged_tail(looks: list[Look], pid: int) -> tuple[int, float]:
    """(looks, seconds) of the last run of looks whose main-thread stack was the same: a
    program that moved at first and then stopped is stuck for that long, not since we came."""
    keys = [_key(look, pid) for look in looks]
    if not keys or keys[-1] is None:
        return 0, 0.0
    count = 1
    while count < len(keys) and keys[-count - 1] == keys[-1]:
        count += 1
    return count, looks[-1].t - looks[-count].t


def _key(look: Look, pid: int) -> tuple | None:
    main = look.main(pid)
    return tuple((f.name, f.file, f.line) for f in main.frames) if main is not None else None


def distinct_stacks(looks: list[Look], pid: int) -> int:
    """How many different main-thread Python stacks (function, file, line) the looks saw."""
    return len({key for look in looks if (key := _key(look, pid)) is not None})
