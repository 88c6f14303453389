"""What to launch: one frozen description of a process to start and watch.

Job: argv, environment, working folder, deadlines, memory limit, and which progress sources
apply (the record pipe always; the injected bootstrap for a Python program under `watch`;
the program's output lines). Built once by the CLI or the pytest plugin (a scenario variant
becomes one kind of launch, `RunSpec.launch`), consumed by the runner. No behaviour.

What to *expect* (an expected verdict, or none) is not here: see `spec.RunSpec`.

Must not import: mlx, the runner, the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..watching.watchdog import Deadlines


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()  # added to the parent's environment
    cwd: Path | None = None
    deadlines: Deadlines = field(default_factory=Deadlines)
    max_memory_mb: float | None = None
    bootstrap: bool = False  # inject the sitecustomize agent (heartbeats from mlx calls)
    echo: bool = False  # the program's stdout/stderr go on to ours (and are parsed)
    progress: str | None = None  # the user's --progress REGEX (named groups step, loss)
    parse_output: bool = False  # read step/loss from the program's output lines
    records_fd: bool = True  # a single scenario child writes to an inherited pipe fd
    watched: bool = False  # a user's own program: no end record owed, its exit code tells
    ranks: int = 1  # processes of a distributed job (each stamps its records with its rank)
    preload: str | None = None  # a native program: the interposer library it is started with
    interposer: str = ""  # why a native program runs without the interposer ("" when it has one)
