"""Helpers of the `watch` tests: run `mlxprobe watch` as a user would and read its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from leftovers import marked_env

PROGRAMS = Path(__file__).parent / "programs"
GUARD_S = 120  # a guard against a hung CLI, not a speed target (see benchmarks/)


def watch(tmp: Path, *program: str, options: tuple[str, ...] = (), mark: str = "",
          env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    """(the finished CLI, the run's report entry) of `mlxprobe watch OPTIONS -- PROGRAM`."""
    out = tmp / "watch.json"
    command = [sys.executable, "-m", "mlxprobe.cli", "watch", "--json", str(out), *options,
               "--", *program]
    base = marked_env(mark) if mark else None
    done = subprocess.run(command, capture_output=True, timeout=GUARD_S,
                          env={**(base or __import__("os").environ), **(env or {})})
    entry = json.loads(out.read_text())["runs"][0] if out.exists() else {}
    return done, entry


def python(script: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, str(PROGRAMS / script), *args)
