"""The parent-child protocol in one place: environment variables, the stack request, record
kinds and how numbers that JSON cannot hold are written.

Both sides import it: the inside (child, recorder, bootstrap) and the watching side (runner,
records, procs). Standard library only. Must not import: mlx, any other part of mlxprobe.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

RECORD_FD_ENV = "MLXPROBE_RECORD_FD"  # the write end of the record pipe (JSON lines)
RECORD_PATH_ENV = "MLXPROBE_RECORD_PATH"  # a FIFO every process of a watched program opens
BOOTSTRAP_ENV = "MLXPROBE_BOOTSTRAP"  # "1": the injected sitecustomize sets up the agent
HOME_ENV = "MLXPROBE_HOME"  # the folder holding the mlxprobe package, for the bootstrap
LIFELINE_FD_ENV = "MLXPROBE_LIFELINE_FD"  # read end of a pipe only the parent writes to
RUN_TOKEN_ENV = "MLXPROBE_RUN_TOKEN"  # inherited by everything the child starts: found at the end
STACKS_DIR_ENV = "MLXPROBE_STACKS_DIR"  # DIR/PID.ask: a FIFO process PID answers to DIR/PID.txt
RANK_ENV = "MLXPROBE_RANK"  # a rank's number, stamped on every record it writes
# where a distributed launcher tells a process its rank: ours first, then mlx.launch (ring,
# nccl, jaccl set MLX_RANK), then MPI's (mlx.launch --backend mpi runs mpirun)
RANK_ENVS = (RANK_ENV, "MLX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK")

# record kinds
START, STEP, CHECK, NOTE, END, ERROR = "start", "step", "check", "note", "end", "error"
EXITING = "exiting"  # bootstrap (atexit): the process is shutting down ("pid")
PROGRESS = "progress"  # a step read from output or from a trainer's callback ("source")
HEADING = "heading"  # output: a line of its own announcing a stage or phase ("text")
MLX = "mlx"  # bootstrap: mlx was imported (its version; the device at the first step)
WEIGHTS = "weights"  # bootstrap: a load_weights call, how many given names matched the model
OPTIMIZER = "optimizer"  # bootstrap: an optimizer was created ("name": its class)
RATE = "rate"  # bootstrap: an optimizer's learning rate as built ("schedule" or "value"), or set
RATES_BUILT = 20  # optimizers whose rate is recorded (a program may build one per trial)
COMPILE = "compile"  # bootstrap: the program called mx.compile ("where": its file:line)
EVAL_OPEN = "eval_open"  # bootstrap: an outermost evaluation has run for a while ("since")
COLLECTIVE = "collective"  # a rank issued a collective: "seq" (per rank), "op", "step"
PARAMS = "params"  # bootstrap: a look at the trainable parameters an eval just evaluated
BEATS = "beats"  # several step records of one shape in one line (packing.py)
NEAR = "near"  # bootstrap: an uncaught AttributeError, the names its object holds closest to it

# "source" of a step/progress record; a step record without one comes from the probe
PROBE, UPDATE, EVAL, CALLBACK, OUTPUT = "probe", "update", "eval", "callback", "output"

NON_FINITE = ("nan", "inf", "-inf")


def stacks_file(folder: str, pid: int) -> str:
    """Where process `pid` appends its Python stacks, each answer in one write."""
    return os.path.join(folder, f"{pid}.txt")


def stacks_request(folder: str, pid: int) -> str:
    """The FIFO process `pid` listens on: a byte written there asks for its stacks."""
    return os.path.join(folder, f"{pid}.ask")


def rank_from(environ: Mapping[str, str]) -> int | None:
    """This process's rank as its launcher set it, or None outside a distributed job."""
    for name in RANK_ENVS:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


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
