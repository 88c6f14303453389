"""The child process: import one scenario module and run one variant under the probe.

Run as `python -m mlxprobe.inside.child --root DIR --module NAME --variant V`, with the record
pipe's fd in MLXPROBE_RECORD_FD. It arms the stack dump (a thread writes every thread's
Python stack to a file when the parent asks over a FIFO, see `answerer`), holds the lifeline
(the parent's death ends the group), writes a start record, calls `<module>.<variant>(probe)`,
and ends with an end record, or an error record and exit code 1 when the loop raises.

May import: mlx (it is the child side), the probe. Must not import: runner, watchdog, verdict.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import traceback

from ..protocol import RECORD_FD_ENV
from . import beats, collectives
from .process import arm_stack_dump, hold_lifeline
from .recorder import Probe, shared

ERROR_EXIT = 1


def environment() -> dict[str, str]:
    """The facts of the start record: mlx version and device, python, platform."""
    facts = {"python": platform.python_version(), "platform": platform.platform(),
             "machine": platform.machine()}
    try:
        import mlx.core as mx

        facts["mlx_version"] = getattr(mx, "__version__", "unknown")
        facts["device"] = str(mx.default_device())
    except ImportError as exc:
        facts["mlx_version"] = f"not importable: {exc}"
    return facts


def run_variant(probe: Probe, root: str, module: str, variant: str) -> int:
    """Import the scenario and run the variant; the exit code for the child."""
    sys.path.insert(0, root)
    try:
        scenario = importlib.import_module(module)
        getattr(scenario, variant)(probe)
    except BaseException as exc:  # noqa: BLE001 - report everything the loop raises
        probe.emit("error", type=type(exc).__name__, message=str(exc)[:4000],
                   traceback=traceback.format_exc()[-8000:])
        return ERROR_EXIT
    probe.emit("end", steps=probe._step, pid=os.getpid())
    return 0


def _count_collectives(probe: Probe) -> None:
    """A rank of a distributed scenario counts its collectives by the probe's steps and
    reports an evaluation left open (a rank blocked in a collective is inside one)."""
    mx = sys.modules.get("mlx.core")
    if probe.rank is None or mx is None:  # mlx failed to import (the start record says why):
        return  # importing it again would abort in nanobind; the variant raises the error

    counter = collectives.Collectives(probe, lambda: probe._step + 1)
    collectives.patch_distributed(counter, mx)
    evals = beats.Beats(probe, counting=False)
    beats.patch_eval(evals, mx)
    beats.watch_open_evals(evals)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlxprobe.child")
    for flag in ("--root", "--module", "--variant"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args(argv)
    hold_lifeline()
    if os.environ.get(RECORD_FD_ENV):
        os.set_inheritable(int(os.environ[RECORD_FD_ENV]), False)  # EOF when the child ends
    armed = arm_stack_dump()
    probe = shared()
    facts = environment()
    probe.emit("start", pid=os.getpid(), variant=args.variant, module=args.module,
               stacks=armed, **facts)
    if facts["mlx_version"].startswith("not importable") and "mlx" in sys.modules:
        # mlx was found but failed to start (e.g. "no CUDA-capable device is detected" in a
        # rank that mlx.launch gave no GPU): importing it again would abort in nanobind
        probe.emit("error", type="ImportError", message=facts["mlx_version"][16:], traceback="")
        return ERROR_EXIT
    _count_collectives(probe)
    probe.reset_clock()
    return run_variant(probe, args.root, args.module, args.variant)


if __name__ == "__main__":
    sys.exit(main())
