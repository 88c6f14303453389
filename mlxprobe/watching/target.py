"""The process `mlxprobe attach PID` is asked about: is it there, may we read it, is it MLX.

Job: each check is one line for the user, with what to do (a `UsageError`, exit 2): no such
process; attaching needs ptrace rights (Linux `kernel.yama.ptrace_scope`, another user's
process, macOS root: the message says exactly what to run); not an MLX program (no MLX
library mapped; a descendant that is one is named). The ptrace rule is a pure function of
the facts (`ptrace_problem`) so each platform's message is tested anywhere.

psutil and /proc only. Must not import: mlx, the inside side, judging.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from importlib import metadata
from pathlib import Path

import psutil

from ..errors import UsageError

YAMA = "/proc/sys/kernel/yama/ptrace_scope"
MLX_LIBRARY = re.compile(r"libmlx\.|/mlx/core[.\w-]*\.so|/mlx/lib/")


def process(pid: int) -> psutil.Process:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise UsageError(f"process {pid} has already ended (a zombie, not yet reaped)")
        return proc
    except psutil.NoSuchProcess:
        raise UsageError(f"no process {pid}: give the PID of a running program "
                         "(`pgrep -af python` lists them)") from None


def ptrace_scope() -> int | None:
    try:
        with open(YAMA) as stream:
            return int(stream.read().strip())
    except (OSError, ValueError):
        return None


def ptrace_problem(pid: int, system: str, euid: int, owner: int | None, scope: int | None,
                   command: str) -> str | None:
    """Why this user cannot read process `pid`'s stacks, with what to run; None if it can."""
    again = f"sudo {command}"
    if system == "darwin":
        return None if euid == 0 else (f"reading another process's stacks on macOS needs "
                                       f"root: run `{again}`")
    if scope == 3:
        return ("kernel.yama.ptrace_scope is 3: no process can be attached to until the "
                "next reboot, not even by root")
    if euid == 0:
        return None
    if owner is not None and owner != euid:
        return f"process {pid} belongs to another user (uid {owner}): run `{again}`"
    if scope in (1, 2):
        return (f"attaching needs ptrace rights and kernel.yama.ptrace_scope is {scope}: run "
                f"`{again}`, or allow it until reboot with "
                "`sudo sysctl -w kernel.yama.ptrace_scope=0`")
    return None


def check_rights(proc: psutil.Process, command: str) -> None:
    try:
        owner = proc.uids().real
    except (psutil.Error, AttributeError):
        owner = None
    problem = ptrace_problem(proc.pid, platform.system().lower(), os.geteuid(), owner,
                             ptrace_scope(), command)
    if problem:
        raise UsageError(problem)


def uses_mlx(pid: int) -> bool | None:
    """Whether an MLX library is mapped in the process (None: cannot tell on this system)."""
    if sys.platform != "linux":
        return None
    try:
        with open(f"/proc/{pid}/maps") as stream:
            return any(MLX_LIBRARY.search(line) for line in stream)
    except PermissionError:
        return None
    except OSError:
        return False


def check_mlx(proc: psutil.Process) -> None:
    """One line, exit 2, when the process is not an MLX program (a descendant that is one is
    named: `mlx.launch`, a shell, a notebook server hold the MLX process below them)."""
    if uses_mlx(proc.pid) is not False:
        return
    try:
        below = [c.pid for c in proc.children(recursive=True) if uses_mlx(c.pid)]
    except psutil.Error:
        below = []
    name = " ".join(_argv(proc))[:80] or proc.name()
    if below:
        raise UsageError(f"process {proc.pid} ({name}) is not an MLX program; its child "
                         f"{below[0]} is: mlxprobe attach {below[0]}")
    raise UsageError(f"process {proc.pid} ({name}) is not an MLX program (no MLX library "
                     "loaded in it): give the PID of the process that trains")


GPU_LIBRARY = re.compile(r"libcuda\.|libcudart|libnvrtc|mlx_cuda|libnccl")
PYTHON_LIBRARY = re.compile(r"libpython(\d+\.\d+)|/python(\d+\.\d+)/")


def environment(pid: int) -> dict:
    """The report's environment of the process, read from its mapped files (Linux): mlx's
    version from the dist-info beside the mapped MLX library, the device (a CUDA library
    mapped: gpu), Python's minor version; None where it cannot be told."""
    try:
        with open(f"/proc/{pid}/maps") as stream:
            paths = {line.split()[-1] for line in stream if "/" in line}
    except OSError:
        return {"mlx_version": None, "device": None, "python": None}
    mlx = next((p for p in paths if MLX_LIBRARY.search(p)), None)
    python = next((m.group(1) or m.group(2) for p in paths
                   if (m := PYTHON_LIBRARY.search(p))), None)
    return {"mlx_version": _mlx_version(mlx) if mlx else None,
            "device": "gpu" if any(GPU_LIBRARY.search(p) for p in paths) else "cpu",
            "python": python}


def _mlx_version(library: str) -> str | None:
    parts = Path(library).parts
    if "mlx" not in parts:
        return None
    site = Path(*parts[:len(parts) - 1 - parts[::-1].index("mlx")])
    found = [d.version for d in metadata.distributions(path=[str(site)])
             if (d.metadata["Name"] or "").lower() == "mlx"]
    return found[0] if found else None


def argv(proc: psutil.Process) -> list[str]:
    return _argv(proc) or [proc.name()]


def _argv(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def command_line(pid: int, rest: list[str]) -> str:
    return shlex.join(["mlxprobe", "attach", str(pid), *rest])
