"""Where the ranks of a distributed scenario run on this machine, or why they cannot.

Job: `place(ranks, backend, shape)` is a pure decision from the machine's shape (does this
MLX see CUDA, and how many GPUs) and the backend asked for (`MLXPROBE_BACKEND`, or None for
`mlx.launch`'s own default: NCCL where MLX sees CUDA, else ring); `machine_shape()` finds
the shape once per process by asking MLX in a short child process (the parent never
imports mlx), or reads `MLXPROBE_GPUS` (a fake GPU count, for tests and for a user who
wants the CPU-only placement: `MLXPROBE_GPUS=0`).

Measured (benchmarks/placement_probe.py, mlx 0.32.4 + mlx-cuda-13, one H100, 2026-11-23):
`mlx.launch`'s default on CUDA is NCCL with `CUDA_VISIBLE_DEVICES=rank`, so rank 1 of 2 on a
one-GPU machine dies ("no CUDA-capable device is detected"). Two NCCL ranks given the same
GPU fail at init ("NCCL error ... invalid usage": NCCL refuses two ranks on one GPU). The
ring backend with both ranks on the one GPU runs (a 30-step data-parallel job in 1.9 s,
parameters identical across ranks; an early-exiting rank gives its peer "[ring] connection
to a peer was lost", as on the CPU), and so does the ring backend on the CPU (1.4 s). So:
fewer GPUs than ranks -> the ring backend with the ranks sharing the GPUs (their arrays stay
on the GPU, as the user's would); NCCL asked for explicitly on such a machine cannot run
and is `skipped`, naming the machine's shape.

Must not import: mlx, the runner, the verdict.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from dataclasses import dataclass

GPUS_ENV = "MLXPROBE_GPUS"  # a fake GPU count: N > 0 means "CUDA with N GPUs", 0 "no CUDA"
PROBE_TIMEOUT_S = 60.0  # importing mlx with CUDA: ~1-3 s warm; a cold disk may take longer
PROBE_CODE = ("import mlx.core as mx; c = mx.cuda.is_available(); "
              "print(int(c), mx.device_count(mx.gpu) if c else 0)")


@dataclass(frozen=True)
class MachineShape:
    cuda: bool  # this MLX runs on CUDA
    gpus: int  # CUDA devices MLX sees (0 without CUDA)
    source: str = "mlx"  # "mlx" (asked), "MLXPROBE_GPUS" (given), "unknown" (the probe failed)

    def describe(self) -> str:
        """'CUDA, 1 GPU' / 'no CUDA GPU (MLX on the CPU or Metal)'."""
        if not self.cuda:
            return "no CUDA GPU (MLX on the CPU or Metal)"
        return f"CUDA, {self.gpus} GPU{'s' if self.gpus != 1 else ''}"


@dataclass(frozen=True)
class Placement:
    backend: str | None  # what `mlx.launch --backend` gets (None: its own default)
    where: str  # one line: the backend and where the ranks run
    skip: str | None = None  # why the job cannot run on this machine (then nothing runs)


def place(ranks: int, backend: str | None, shape: MachineShape) -> Placement:
    """Where `ranks` ranks of a job asking for `backend` run on a machine of `shape`."""
    if ranks < 2:
        return Placement(backend, "one process")
    wants_nccl = backend == "nccl" or (backend is None and shape.cuda)
    if not wants_nccl:
        return Placement(backend, f"{backend or 'ring'} backend, {ranks} ranks on "
                         f"{_shared(shape) if shape.cuda else 'this machine'} "
                         f"({shape.describe()})")
    if shape.cuda and shape.gpus >= ranks:
        return Placement(backend, f"NCCL, one GPU per rank ({ranks} of {shape.gpus} GPUs)")
    if backend == "nccl":
        return Placement(backend, "NCCL", skip=(
            f"NCCL needs one CUDA GPU per rank: {ranks} ranks, this machine has "
            f"{shape.describe()} (NCCL refuses two ranks on one GPU; unset MLXPROBE_BACKEND "
            "to run the ranks on the ring backend)"))
    sharing = f"sharing {_shared(shape)}" if shape.gpus else "on the CPU"
    return Placement("ring", f"ring backend, {ranks} ranks {sharing} (fewer GPUs than "
                     f"ranks: {shape.describe()}; NCCL needs one GPU per rank)")


def _shared(shape: MachineShape) -> str:
    """Which GPU ring's ranks use: `mlx.launch` gives ring ranks no CUDA_VISIBLE_DEVICES,
    so every rank takes MLX's default device, GPU 0."""
    return "the one GPU" if shape.gpus == 1 else "GPU 0"


@functools.lru_cache(maxsize=1)
def machine_shape() -> MachineShape:
    """This machine as MLX sees it (asked once per process); `MLXPROBE_GPUS` overrides."""
    given = os.environ.get(GPUS_ENV, "").strip()
    if given:
        if not given.isdigit():
            from ..errors import UsageError
            raise UsageError(f"{GPUS_ENV}={given!r}: expected a whole number of GPUs (0: no "
                             "CUDA)")
        return MachineShape(int(given) > 0, int(given), GPUS_ENV)
    return _asked()


def _asked() -> MachineShape:
    try:
        done = subprocess.run([sys.executable, "-c", PROBE_CODE], capture_output=True,
                              text=True, timeout=PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        cuda, gpus = (int(x) for x in done.stdout.split()[:2])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return MachineShape(False, 0, "unknown")  # mlx.launch then decides, as without us
    return MachineShape(bool(cuda), gpus, "mlx")
