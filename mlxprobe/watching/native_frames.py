"""The text of a native stack dump (py-spy's `--native` layout): the main thread's frames, and
whether MLX is on them.

Job: read a dump already taken; used by the runner (is a stall inside an MLX evaluation?)
and by the judging side (`judging/spinning`: is it in the program's own Python?). Text only.
Must not import: mlx, the runner, judging.
"""

from __future__ import annotations

import re

NATIVE_MAIN = re.compile(r'^Thread \d+ \([^)]*\): "MainThread"')
MLX_NATIVE = re.compile(r"libmlx|mlx::|/mlx/|\(mlx/|mlx\.core|core\.cpython.*mlx")


def native_main(native: str) -> list[str]:
    """The frame lines of the native dump's main thread."""
    frames: list[str] = []
    inside = False
    for line in native.splitlines():
        if NATIVE_MAIN.match(line):
            inside = True
        elif inside and line.startswith("Thread "):
            break
        elif inside and line.strip():
            frames.append(line.strip())
    return frames


def in_mlx(native: str) -> bool:
    """The main thread has an MLX frame (it runs an evaluation, or waits inside one)."""
    return any(MLX_NATIVE.search(frame) for frame in native_main(native))
