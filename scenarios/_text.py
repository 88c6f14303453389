"""Real text every Python install has: standard-library docstrings, as bytes for a byte-level LM.

Job: give scenario modules a small, real, deterministic corpus without downloads. The source
files of a fixed, sorted list of standard-library modules are parsed with `ast` (the modules
are never imported) and their module/class/function docstrings are joined. Non-ASCII characters
are dropped, so every byte is < 128 (the LM vocabulary is still 256 bytes).

May import mlx, numpy and the standard library only (never `mlxprobe.runner` or other parent-side
modules): it runs inside scenario child processes.

Measured (mlx 0.32.4 CPU, CPython 3.11.7, 2026-11-21): 36 of 36 modules found, 318,762 bytes,
built in ~0.36-0.65 s, which every scenario child paid: it is now cached on disk
(`$MLXPROBE_CACHE` or `~/.cache/mlxprobe`, keyed by the sources; read back in ~1 ms) and in a
module-level variable (benchmarks/RESULTS.md, end-to-end); `split()` gives 286,885 train /
31,877 validation bytes. Modules missing from a trimmed install are skipped. The corpus
differs between Python versions (the stdlib docstrings do), but is identical across runs of one
install.
"""

from __future__ import annotations

import ast
import hashlib
import os
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mlx.core as mx
import numpy as np

MODULES: tuple[str, ...] = (
    "argparse", "ast", "base64", "bisect", "calendar", "collections", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "difflib", "enum", "fnmatch",
    "fractions", "functools", "glob", "heapq", "inspect", "ipaddress", "json", "logging",
    "pathlib", "pickle", "pprint", "random", "shlex", "shutil", "statistics", "string",
    "tempfile", "textwrap", "typing", "warnings", "zipfile",
)

_CORPUS: bytes | None = None

_DOC_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _module_source(name: str) -> Path | None:
    """The module's .py file (plain module or package `__init__.py`), or None if absent."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for candidate in (stdlib / f"{name}.py", stdlib / name / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _docstrings(source: str) -> list[str]:
    """Docstrings of the module and of every class/function in it, in `ast.walk` order."""
    tree = ast.parse(source)
    docs = (ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, _DOC_NODES))
    return [doc for doc in docs if doc]


def _build() -> bytes:
    texts: list[str] = []
    for name in sorted(MODULES):
        path = _module_source(name)
        if path is not None:
            texts.extend(_docstrings(path.read_text(encoding="utf-8")))
    return "\n\n".join(texts).encode("ascii", errors="ignore")


def _cache_path() -> Path:
    """The disk cache file, named by a hash of what the corpus is built from: this file, the
    Python version and each source's path, size and mtime (any change makes a new file)."""
    sources = [p for p in map(_module_source, sorted(MODULES)) if p is not None]
    stamp = [sys.version, hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
             *(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sources)]
    key = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:16]
    root = Path(os.environ.get("MLXPROBE_CACHE") or Path.home() / ".cache" / "mlxprobe")
    return root / f"corpus-{key}.txt"


def _cached_build() -> bytes:
    """The corpus from the disk cache, else built and stored (temp file + os.replace, so
    concurrent children never read a torn file); an unwritable cache only costs the build."""
    path = _cache_path()
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = _build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, delete=False) as f:
            f.write(data)
        os.replace(f.name, path)
    except OSError:
        pass
    return data


def corpus() -> bytes:
    """The whole corpus (ASCII bytes), built once per install (cached on disk) and kept in
    memory for the process."""
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = _cached_build()
    return _CORPUS


def split(train_frac: float = 0.9, text: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous (train, validation) uint8 arrays: the first `train_frac` of `text`, the rest.

    `text` defaults to `corpus()`.
    """
    data = np.frombuffer(corpus() if text is None else text, dtype=np.uint8)
    cut = int(len(data) * train_frac)
    return data[:cut], data[cut:]


def batches(data: np.ndarray, batch: int, seq: int, seed: int) -> Iterator[mx.array]:
    """Endless random windows of `data` as int32 arrays of shape (batch, seq + 1).

    Deterministic per `seed`. Use `itertools.islice` (or `zip` with a range) to take a few.
    """
    rng = np.random.default_rng(seed)
    offsets = np.arange(seq + 1)
    while True:
        starts = rng.integers(0, len(data) - seq - 1, size=batch)
        yield mx.array(data[starts[:, None] + offsets].astype(np.int32))
