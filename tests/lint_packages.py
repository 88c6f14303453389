"""Real third-party MLX training code for the lint's tests and benchmark: the wheels of
mlx-lm, mlx-lm-lora and mlx-vlm at fixed versions, fetched once with `pip download --no-deps`
(mlx-vlm's own dependencies are heavy and the lint needs none) and unpacked into a cache
folder that later runs reuse (tests/.cache/lint-packages, git-ignored).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGES = ("mlx-lm==0.32.2", "mlx-lm-lora==5.10.2", "mlx-vlm==0.7.10")
CACHE = Path(__file__).resolve().parent / ".cache" / "lint-packages"


class Unavailable(RuntimeError):
    """The wheels are not cached and could not be downloaded."""


def unpacked(folder: Path | None = None) -> Path:
    """The folder holding the three packages' sources (downloaded on first use)."""
    folder = folder or CACHE
    done = folder / "src" / ".complete"
    if done.exists():
        return folder / "src"
    wheels = folder / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                          "--only-binary", ":all:", "-d", str(wheels), *PACKAGES],
                         capture_output=True, text=True, timeout=600)
    found = sorted(wheels.glob("*.whl"))
    if got.returncode or len(found) < len(PACKAGES):
        raise Unavailable("`pip download --no-deps " + " ".join(PACKAGES)
                          + "` failed (offline?):\n" + got.stderr[-500:])
    for wheel in found:
        zipfile.ZipFile(wheel).extractall(folder / "src")
    done.write_text("\n".join(w.name for w in found) + "\n")
    return folder / "src"
