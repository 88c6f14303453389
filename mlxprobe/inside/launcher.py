"""The launcher of a distributed scenario: `mlx.launch`, holding the harness's lifeline.

Run as `python -m mlxprobe.inside.launcher [mlx.launch options] -- PROGRAM...`. A scenario's
process gets no bootstrap, and `mlx.launch` closes inherited fds before starting the ranks,
so this process holds the lifeline (the harness's death ends the whole group: launcher and
ranks), then runs `mlx.launch` in-process with the same arguments.

May import: the standard library, `process`, mlx's launcher. Must not import: the watching
side.
"""

from __future__ import annotations

import sys

from .process import hold_lifeline


def main(argv: list[str] | None = None) -> None:
    hold_lifeline()
    try:
        from mlx._distributed_utils.launch import main as launch
    except ImportError:  # mlx before 0.27 kept its launcher here
        from mlx.distributed_run import main as launch

    sys.argv = ["mlx.launch", *(sys.argv[1:] if argv is None else argv)]
    launch()


if __name__ == "__main__":
    main()
