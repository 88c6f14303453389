"""The child process: import one scenario module and run one variant under the probe.

Run as `python -m mlxprobe.inside.child --root DIR --module NAME --variant V --stacks FILE`,
with the record pipe's fd in MLXPROBE_RECORD_FD. It registers faulthandler so that SIGUSR1 from the
parent dumps every thread's Python stack into FILE, writes a start record, calls
`<module>.<variant>(probe)`, and ends with an end record, or an error record and exit code 1
when the loop raises.

It holds a lifeline (MLXPROBE_LIFELINE_FD): the read end of a pipe whose write end only the
parent holds. When the parent dies without cleaning up (SIGKILL, a crash, a CI runner
killing pytest), the read returns EOF and a thread SIGKILLs the child's process group, so no
trainer outlives its harness.

May import: mlx (it is the child side), the probe. Must not import: runner, watchdog, verdict.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import os
import platform
import signal
import sys
import threading
import traceback
from typing import IO

from ..protocol import LIFELINE_FD_ENV, RECORD_FD_ENV, STACK_SIGNAL
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


def arm_stack_dump(path: str) -> IO[str]:
    """SIGUSR1 -> all threads' Python stacks appended to `path` (kept open for the handler)."""
    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - must outlive this function
    faulthandler.register(STACK_SIGNAL, file=stream, all_threads=True, chain=False)
    return stream


def hold_lifeline() -> None:
    """Watch the parent's lifeline on a thread: EOF (the parent is gone) ends our group."""
    fd = int(os.environ.pop(LIFELINE_FD_ENV, "-1"))
    if fd < 0:
        return
    os.set_inheritable(fd, False)  # processes the loop starts must not hold it
    group = os.getpgrp()

    def wait_for_eof() -> None:
        try:
            while os.read(fd, 1):
                continue
        except OSError:
            pass
        os.killpg(group, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)  # in case the loop left the group

    threading.Thread(target=wait_for_eof, name="mlxprobe-lifeline", daemon=True).start()


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
    probe.emit("end", steps=probe._step)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlxprobe.inside.child")
    for flag in ("--root", "--module", "--variant", "--stacks"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args(argv)
    hold_lifeline()
    if os.environ.get(RECORD_FD_ENV):
        os.set_inheritable(int(os.environ[RECORD_FD_ENV]), False)  # EOF when the child ends
    stacks = arm_stack_dump(args.stacks)
    probe = shared()
    probe.emit("start", pid=os.getpid(), variant=args.variant, module=args.module, **environment())
    probe.reset_clock()
    code = run_variant(probe, args.root, args.module, args.variant)
    stacks.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
