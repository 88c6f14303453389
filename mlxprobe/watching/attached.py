"""What one `mlxprobe attach` saw of a running process: the contract between the attach
session (`watching.attacher`) and its judgement (`judging.now`).

Plain data, no behaviour beyond small derived views. Must not import: mlx, psutil, judging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .facts import Sample
from .pyspy import Look


@dataclass
class Attached:
    pid: int
    argv: list[str]
    started: float  # monotonic, when sampling began
    window_s: float = 0.0  # how long it was sampled
    ended_at: float | None = None  # monotonic, when the process was found gone
    looks: list[Look] = field(default_factory=list)  # py-spy's non-blocking looks
    look_error: str = ""  # why there are no Python looks (not Python, py-spy missing)
    samples: list[Sample] = field(default_factory=list)  # RSS, CPU, runnable threads, 20 Hz
    outputs: dict[str, str] = field(default_factory=dict)  # "stdout"/"stderr" -> what it is
    records: list[dict] = field(default_factory=list)  # progress read from output files
    before: list[dict] = field(default_factory=list)  # progress printed before we looked
    output_quiet_s: float | None = None  # seconds since an output file was last written
    io_bytes: int = 0  # bytes read + written by the process while we looked
    threads: list[dict] = field(default_factory=list)  # CPU by thread over the window
    native_stacks: str = ""
    native_pause_s: float | None = None  # wall time of the one blocking native dump
    compiler: str | None = None  # a compiler frame in the native stacks (NVRTC, Metal, g++)
    costs: dict = field(default_factory=dict)  # what sampling cost (per look, native dump)
    environment: dict = field(default_factory=dict)  # mlx_version, device, python

    @property
    def last_t(self) -> float:
        return self.ended_at if self.ended_at is not None else self.started + self.window_s

    def python_stacks(self) -> str:
        """The last look whose main thread's stack is whole, else the last look."""
        if not self.looks:
            return f"(no Python stacks: {self.look_error})"
        return next((k for k in reversed(self.looks) if k.whole()), self.looks[-1]).text()
