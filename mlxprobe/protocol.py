"""The parent-child protocol in one place: environment variables, the stack signal, record
kinds and how numbers that JSON cannot hold are written.

Both sides import it: the inside (child, recorder, bootstrap) and the watching side (runner,
records, procs). Standard library only. Must not import: mlx, any other part of mlxprobe.
"""

from __future__ import annotations

import math
import signal

RECORD_FD_ENV = "MLXPROBE_RECORD_FD"  # the write end of the record pipe (JSON lines)
LIFELINE_FD_ENV = "MLXPROBE_LIFELINE_FD"  # read end of a pipe only the parent writes to
RUN_TOKEN_ENV = "MLXPROBE_RUN_TOKEN"  # inherited by everything the child starts: found at the end
STACKS_PATH_ENV = "MLXPROBE_STACKS"  # where the child's faulthandler writes on STACK_SIGNAL
RANK_ENV = "MLXPROBE_RANK"  # set by the launcher of several ranks; stamped on every record
STACK_SIGNAL = signal.SIGUSR1

# record kinds
START, STEP, CHECK, NOTE, END, ERROR = "start", "step", "check", "note", "end", "error"
EVAL = "eval"  # an outermost evaluation entered (bootstrap): "where" and "t" of entry
PROGRESS = "progress"  # a step read from the program's output (source "output")

NON_FINITE = ("nan", "inf", "-inf")


def encode_number(value: float) -> float | str:
    """A float as JSON can hold it: non-finite values become "nan", "inf", "-inf"."""
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def decode_number(value: object) -> float | None:
    """A recorded number back as a float (bools and anything else: None)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value in NON_FINITE:
        return float(value)  # type: ignore[arg-type]
    return None
