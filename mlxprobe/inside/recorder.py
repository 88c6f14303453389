"""The child-side API a training loop calls once per step: `probe.step(loss=..., **metrics)`.

Job: turn what the loop already has into JSON-line records on the record pipe (never stdout),
plus MLX's own memory counters; `writer.Writer` writes them (fast steps packed together).
It must never evaluate an MLX array: a value that is not a plain Python number is recorded
by its type name only, so a loop that forgot to evaluate is observed as it is. Outside
mlxprobe (no record fd in the environment) every call is a no-op, so a user can leave the
calls in a real training script.

May import: the standard library; `mlx.core` lazily and only for memory counters.
Must not import: the parent side (runner, watchdog, verdict, reporters).
"""

from __future__ import annotations

import os
import threading
import time
from typing import IO, Any

from ..protocol import RECORD_FD_ENV, RECORD_PATH_ENV, STEP, encode_number, rank_from
from .writer import Writer

_PLAIN = (bool, int, float, str, type(None))


def plain(value: Any) -> Any:
    """A JSON-safe copy of `value` that never touches an MLX array's data.

    Numbers, strings, bools and None pass through (non-finite floats become the strings
    "nan", "inf", "-inf"); lists/tuples/dicts are copied recursively; anything else (an
    un-evaluated `mx.array`, a numpy array) becomes `{"unrecorded": "<type name>"}`.
    """
    if isinstance(value, float):
        return encode_number(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return {"unrecorded": type(value).__name__}


def memory_counters() -> dict[str, int]:
    """MLX's allocator counters in bytes (active, peak, cache); {} when unavailable.

    Reading a counter evaluates nothing. Older mlx (< 0.24) kept them under `mx.metal`.
    """
    try:
        import mlx.core as mx
    except ImportError:
        return {}
    out: dict[str, int] = {}
    for name in ("active", "peak", "cache"):
        fn = getattr(mx, f"get_{name}_memory", None)
        if fn is None:
            fn = getattr(getattr(mx, "metal", None), f"get_{name}_memory", None)
        if fn is not None:
            try:
                out[f"mx_{name}"] = int(fn())
            except (RuntimeError, ValueError):
                continue
    return out


def _open_fifo(path: str) -> IO[str] | None:
    """The run's FIFO for writing, or None when it is gone (the harness ended). Non-blocking
    open (never waits for a reader), then blocking writes, like a pipe."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "w", buffering=1)


class Probe:
    """Writes start/step/check/end records; one instance per child process."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.rank = rank_from(os.environ)  # stamped on every record of a distributed job
        self._writer = Writer(stream, self._step_record)
        self._step = 0
        self._last = time.perf_counter()

    @classmethod
    def from_env(cls) -> Probe:
        """The probe for this process: connected when mlxprobe started it, else a no-op.

        A scenario child gets an inherited pipe fd (RECORD_FD_ENV); every Python process of a
        watched program gets the path of the run's FIFO (RECORD_PATH_ENV), since a program's
        own subprocesses do not inherit its fds (Python's subprocess closes them)."""
        path = os.environ.get(RECORD_PATH_ENV)
        if path:
            return cls(_open_fifo(path))
        fd = os.environ.get(RECORD_FD_ENV)
        if not fd:
            return cls(None)
        return cls(os.fdopen(int(fd), "w", buffering=1, closefd=False))

    @property
    def active(self) -> bool:
        return self._writer.active

    def emit(self, kind: str, **fields: Any) -> None:
        """Write one record (a step record may wait a moment to go with the next ones:
        `writer.Writer`); never raises into the loop under test."""
        if not self._writer.active:
            return
        record = self._record(kind, time.time(), fields)
        if kind == STEP:
            self._writer.beat(record)
        else:
            self._writer.record(record)

    def step_later(self, **fields: Any) -> None:
        """A step record of plain values (numbers, strings, dicts of them), made and written
        by the writer's own thread (`Writer.later`): what the `watch` agent's heartbeats
        use, costing the program's thread one append."""
        if self._writer.active:
            self._writer.later(time.time(), fields)

    def _record(self, kind: str, sent: float, fields: dict) -> dict:
        record = {"kind": kind, "time": sent, **plain(fields)}
        if self.rank is not None:
            record["rank"] = self.rank
        return record

    def _step_record(self, sent: float, fields: dict) -> dict:
        return self._record(STEP, sent, fields)

    def flush(self) -> None:
        """Write any step records still held (before the process ends without a record)."""
        self._writer.flush()

    def step(self, loss: Any = None, **metrics: Any) -> None:
        """One heartbeat: call once per training step, after the step's work."""
        now = time.perf_counter()
        self._step += 1
        self.emit("step", step=self._step, step_s=now - self._last, loss=loss,
                  metrics=metrics, memory=memory_counters())
        self._last = now

    def check(self, name: str, ok: bool, hint: str = "", **evidence: Any) -> None:
        """A scenario-specific correctness check; a failed one makes the verdict wrong_result."""
        self.emit("check", name=name, ok=bool(ok), hint=hint, evidence=evidence)

    def note(self, **info: Any) -> None:
        """Free-form facts for the report (model size, data size, settings)."""
        self.emit("note", info=info)

    def reset_clock(self) -> None:
        """Start the next step's timer now (after set-up that is not a training step)."""
        self._last = time.perf_counter()


_SHARED: list[Probe] = []
_SHARED_LOCK = threading.Lock()


def shared() -> Probe:
    """The one probe of this process (the child, the bootstrap and the user's own
    `probe.step` calls all write through it, so their lines never interleave)."""
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(Probe.from_env())
        return _SHARED[0]
