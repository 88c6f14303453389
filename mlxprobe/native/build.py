"""Building native code against the installed mlx wheel, once, cached.

Job: the native scenario programs (`scenarios/native/`, CMake against the wheel's
`share/cmake/MLX`) and the interposer library (`interposer.cpp`, one compiler call) are
built the first time they are needed and kept in the cache folder
(`$MLXPROBE_CACHE/native`, default `~/.cache/mlxprobe/native`), named by the hash of their
sources, the mlx version and where the wheel lives: an mlx upgrade or an edited source
builds again, anything else reuses the build. A file lock serialises builders (parallel
pytest workers build once). A machine without a compiler or CMake gets a
`NativeUnavailable` naming what to install; a failed build gets the compiler's last lines.

Written by hand: a cache key and two subprocess calls; no build library does less.
Must not import: mlx (it is found on disk, never imported), the inside side.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import UsageError

INSTALL = ("install a C++20 compiler and CMake (Debian/Ubuntu: apt-get install g++ cmake; "
           "macOS: xcode-select --install && brew install cmake)")
BUILD_TIMEOUT_S = 600.0
INTERPOSER_SOURCE = Path(__file__).with_name("interposer.cpp")
LIBRARY_SUFFIX = ".dylib" if sys.platform == "darwin" else ".so"


class NativeUnavailable(UsageError):
    """Native code cannot be built here (no compiler, no CMake, no mlx headers, a failed
    build): one line saying what to install or what failed."""


def cache_root() -> Path:
    base = os.environ.get("MLXPROBE_CACHE") or os.path.join(Path.home(), ".cache", "mlxprobe")
    return Path(base) / "native"


def mlx_root() -> Path:
    """The installed mlx package folder (include/, lib/, share/cmake/), found without
    importing mlx."""
    spec = importlib.util.find_spec("mlx")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in map(Path, folders):
        if (folder / "include" / "mlx" / "mlx.h").exists():
            return folder
    raise NativeUnavailable("the installed mlx has no C++ headers (include/mlx/mlx.h): "
                            "reinstall the mlx wheel (pip install --force-reinstall mlx)")


def mlx_version() -> str:
    try:
        return importlib.metadata.version("mlx")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def compiler() -> str:
    """The C++ compiler: $CXX, else c++, g++ or clang++ on PATH."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name) or name
    raise NativeUnavailable(f"no C++ compiler found: {INSTALL}")


def cmake() -> str:
    found = shutil.which("cmake")
    if found is None:
        raise NativeUnavailable(f"cmake not found: {INSTALL}")
    return found


def toolchain_problem() -> str | None:
    """None when native code can be built here, else the one line saying why not."""
    try:
        compiler(), cmake(), mlx_root()
    except NativeUnavailable as exc:
        return str(exc)
    return None


def source_key(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha256(f"{mlx_version()}\0{root}\0{sys.platform}".encode())
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def program(source_dir: Path, target: str) -> Path:
    """The executable `target` of the CMake project in `source_dir`, built if needed."""
    root = mlx_root()
    sources = [p for p in source_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    folder = cache_root() / f"{source_dir.name}-{source_key(sources, root)}"
    return _cached(folder, target, lambda tmp: _cmake_build(source_dir, tmp, root, target))


def interposer() -> Path:
    """The interposer library, built if needed."""
    root = mlx_root()
    folder = cache_root() / f"interposer-{source_key([INTERPOSER_SOURCE], root)}"
    name = "libmlxprobe_interposer" + LIBRARY_SUFFIX
    return _cached(folder, name, lambda tmp: _compile_library(tmp / name))


def _cached(folder: Path, name: str, build) -> Path:  # noqa: ANN001 - (Path) -> None
    done = folder / name
    if done.exists():
        return done
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building it now
        if done.exists():
            return done
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".build-") as tmp:
            build(Path(tmp))
            folder.mkdir(exist_ok=True)
            os.replace(Path(tmp) / name, done)  # the same file system: atomic
    return done


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise NativeUnavailable(f"{what} timed out after {BUILD_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-6:]
        raise NativeUnavailable(f"{what} failed: " + " | ".join(tail))


def _cmake_build(source_dir: Path, build_dir: Path, root: Path, target: str) -> None:
    tool = cmake()
    _run([tool, "-S", str(source_dir), "-B", str(build_dir), f"-DMLX_ROOT={root}",
          f"-DCMAKE_CXX_COMPILER={compiler()}", "-DCMAKE_BUILD_TYPE=Release"],
         f"configuring {source_dir.name}")
    _run([tool, "--build", str(build_dir), "--target", target], f"building {target}")


def _compile_library(out: Path) -> None:
    """No MLX header is needed (see interposer.cpp); the cache key still holds mlx's version:
    the mangled names it wraps are MLX's."""
    shared = ["-dynamiclib", "-undefined", "dynamic_lookup"] if sys.platform == "darwin" \
        else ["-shared"]
    _run([compiler(), "-std=c++17", "-O2", "-fPIC", *shared, str(INTERPOSER_SOURCE), "-o",
          str(out), "-pthread", "-ldl"], "building the interposer")
