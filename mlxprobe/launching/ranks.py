"""The command that starts N ranks of a program on this machine through `mlx.launch`.

Job: build the launcher's argv for N local ranks (`--hosts 127.0.0.1 -n N`), with free
ports on 127.0.0.1 chosen per run (a block of N consecutive ports for the ring backend, one
for NCCL's rendezvous) so that parallel runs never collide. The launcher is run as
`python -c` of `mlx._distributed_utils.launch.main` (the `mlx.launch` script may be missing
where mlx was installed without its entry points), or wrapped by mlxprobe's own
`mlxprobe.inside.launcher` for a scenario (which then also holds the lifeline). Never any
address but 127.0.0.1.

Must not import: mlx, the runner, the verdict.
"""

from __future__ import annotations

import socket
import sys
from contextlib import ExitStack

HOST = "127.0.0.1"
BACKENDS = ("ring", "nccl", "mpi", "jaccl", "jaccl-ring")
LAUNCHER_CODE = ("import sys; from mlx._distributed_utils.launch import main; "
                 "sys.argv[0] = 'mlx.launch'; main()")
PORT_TRIES = 50
MAX_LOCAL = 64  # ranks on this one machine


def free_ports(count: int) -> int:
    """The first of `count` consecutive ports on 127.0.0.1 that are free now."""
    for _ in range(PORT_TRIES):
        with ExitStack() as held:
            first = _bound(held, 0)
            if first is None:
                continue
            if all(_bound(held, first + i) is not None for i in range(1, count)):
                return first
    raise OSError(f"no {count} consecutive free ports on {HOST}")


def _bound(held: ExitStack, port: int) -> int | None:
    sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        sock.bind((HOST, port))
    except OSError:
        return None
    return sock.getsockname()[1]


def launcher_args(ranks: int, backend: str | None = None) -> list[str]:
    """`mlx.launch`'s own options for `ranks` local ranks on fresh ports."""
    if ranks < 1:
        raise ValueError(f"ranks must be >= 1, got {ranks}")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    ring = free_ports(ranks)
    nccl = free_ports(1)
    args = ["--hosts", HOST, "-n", str(ranks), "--starting-port", str(ring),
            "--nccl-port", str(nccl)]
    return args + (["--backend", backend] if backend else [])


def launch_argv(ranks: int, program: list[str], backend: str | None = None) -> list[str]:
    """The launcher command line running `program` as `ranks` ranks (a user's run)."""
    return [sys.executable, "-c", LAUNCHER_CODE, *launcher_args(ranks, backend), "--",
            *program]


def scenario_argv(ranks: int, program: list[str], backend: str | None = None) -> list[str]:
    """The same through mlxprobe's launcher wrapper, which holds the lifeline (a scenario's
    launcher gets no bootstrap)."""
    return [sys.executable, "-m", "mlxprobe.inside.launcher", *launcher_args(ranks, backend),
            "--", *program]
