"""Where a busy stall computes: in MLX, or in the program's own Python with no MLX op running.

Job: a hang whose process computes at full speed is most often a lazy backlog: the main
thread sits in `mx.eval`/`.item()` and natively in MLX (`mlx::core::eval_impl` in
`libmlx.so`). When the native main thread holds no MLX frame at all while its Python stack
ends in the program's own file (not an installed package, not the standard library), the
work is the program's Python itself: a loop whose exit never comes (a batch iterator over
fewer examples than one batch inside `while True`). That changes the fix, not the verdict:
this reads the stacks the stall already took and names the line.

Evidence needed: both dumps of the stall (Python's faulthandler layout, py-spy's native
one); without the native one (macOS, no py-spy) nothing is said. Measured (failure corpus
fresh10 `a10_drop_last_stage_spin`): main thread at the program's `iterate_batches` line,
native frames numpy's `permutation` only; a lazy-backlog hang's native main thread shows
`mlx::core::eval_impl (libmlx.so)`.

Must not import: mlx, the runner.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..watching.native_frames import in_mlx, native_main
from . import tracebacks

PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>.+)$')
OURS = ("/mlxprobe/", "<frozen")  # beside installed packages and the stdlib (`tracebacks`)


def main_python_frames(stacks: str) -> Iterator[tuple[str, int, str]]:
    """(file, line, function) of the main thread's Python frames, innermost first."""
    inside = False
    for line in stacks.splitlines():
        if line.startswith("Main thread"):
            inside = True
        elif inside and (found := PY_FRAME.match(line)):
            yield found["file"], int(found["line"]), found["func"].strip()
        elif inside and not line.strip():
            return


def main_python_frame(stacks: str) -> tuple[str, int, str] | None:
    """(file, line, function) of the main thread's innermost Python frame."""
    return next(main_python_frames(stacks), None)


def own_file(path: str) -> bool:
    """A file of the program's own: not an installed package, the stdlib or mlxprobe."""
    return not tracebacks.INSTALLED.search(path) and not any(part in path for part in OURS)


def in_own_python(python_stacks: str, native: str) -> str | None:
    """`file:line (function)` when the stall computes in the program's own Python with no
    MLX frame on the native main thread; None otherwise or when a dump is missing."""
    top = main_python_frame(python_stacks or "")
    frames = native_main(native or "")
    if top is None or not frames or in_mlx(native):
        return None
    path, line, func = top
    if not own_file(path):
        return None
    return f"{path.rsplit('/', 1)[-1]}:{line} ({func})"
