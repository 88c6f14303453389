"""`mlxprobe --version`: mlxprobe's, mlx's and Python's versions and MLX's backend.

Job: versions from installed package metadata (no import of mlx in this process: the CLI loads
without it), the backend (cpu / cuda / metal) from a short child Python that imports mlx and
asks it; where that child fails or is slow, the backend guessed from the installed
distributions (mlx-cuda*, mlx-metal, mlx-cpu), and said so.

Must not import: mlx.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata

from .. import __version__

CHILD_TIMEOUT_S = 30.0  # importing mlx cold (first import after install) takes seconds
ASK_BACKEND = ("import mlx.core as mx\n"
               "cuda = getattr(mx, 'cuda', None)\n"
               "metal = getattr(mx, 'metal', None)\n"
               "print('cuda' if cuda is not None and cuda.is_available() else 'metal' "
               "if metal is not None and metal.is_available() else 'cpu')\n")


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def backend() -> str:
    """cpu / cuda / metal from a child that imports mlx; a guess from metadata otherwise."""
    try:
        done = subprocess.run([sys.executable, "-c", ASK_BACKEND], capture_output=True,
                              text=True, timeout=CHILD_TIMEOUT_S)
    except (subprocess.TimeoutExpired, OSError):
        done = None
    answer = done.stdout.strip().splitlines()[-1:] if done and done.returncode == 0 else []
    if answer and answer[0] in ("cpu", "cuda", "metal"):
        return answer[0]
    return f"{_guess()} (from the installed packages: importing mlx failed)"


def _guess() -> str:
    names = {d.metadata["Name"].lower() for d in metadata.distributions() if d.metadata["Name"]}
    if any(n.startswith("mlx-cuda") for n in names):
        return "cuda"
    if "mlx-metal" in names:
        return "metal"
    return "cpu" if "mlx-cpu" in names else "unknown"


def text() -> str:
    mlx = installed("mlx")
    lines = [f"mlxprobe {__version__}",
             f"mlx {mlx or 'not installed (pip install mlx; on Linux mlx[cpu] or mlx[cuda13])'}",
             f"python {platform.python_version()} ({sys.executable})"]
    if mlx:
        lines.append(f"backend {backend()}")
    return "\n".join(lines)
