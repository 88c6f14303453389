"""Native stacks of a process that is not Python (a C++ or mlx-rs trainer), from a debugger.

Job: every thread's stack of a compiled program, taken from outside with elfutils'
`eu-stack -p PID` where it is installed, else `gdb -p PID -batch` (`thread apply all bt`),
and written the way `py-spy dump --native` writes its stacks (a `Thread TID: "name"` header,
one `function (library)` line per frame, innermost first), so the report shows both alike
and the same compile-frame rules (`compiling`) read them. Either tool stops the process for
the moment it reads it (about 2 s for gdb with libmlx's symbols here); bounded in time; a
failure is text, never raised. macOS has `sample` (see `stacks`).

Must not import: mlx, the child side.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

TIMEOUT_S = 30.0
PYTHON_NAMES = ("python", "pypy")
GDB_THREAD = re.compile(r'^Thread \d+ \(Thread 0x[0-9a-f]+ \(LWP (\d+)\)(?: "([^"]*)")?\)')
EU_THREAD = re.compile(r"^TID (\d+):")
FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+\s+(?:in\s+)?)?(?P<rest>.*)$")


def is_python(pid: int) -> bool:
    """Does the process run a Python interpreter (py-spy's kind of process)?"""
    try:
        name = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return True  # unknown: py-spy says why it cannot read it
    return name.startswith(PYTHON_NAMES)


def debugger_stacks(pid: int) -> str:
    """Every thread's native stack, py-spy style, or why there are none."""
    eu = shutil.which("eu-stack")
    gdb = shutil.which("gdb")
    if eu is not None:
        argv, parse = [eu, "-p", str(pid)], condense_eu
    elif gdb is not None:
        argv = [gdb, "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
                "-ex", "thread apply all bt"]
        parse = condense_gdb
    else:
        return ("(no native stacks: install elfutils (eu-stack) or gdb, e.g. "
                "apt-get install elfutils)")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"({os.path.basename(argv[0])} timed out after {TIMEOUT_S:.0f} s)"
    except OSError as exc:
        return f"({os.path.basename(argv[0])} failed to start: {exc})"
    text = parse(done.stdout)
    if not text:
        why = (done.stderr or done.stdout).strip().splitlines()[-2:]
        return f"({os.path.basename(argv[0])} found no stacks: {' | '.join(why)})"
    return text


def function_name(text: str) -> str:
    """`mlx::core::eval(std::vector<...>) ()` -> `mlx::core::eval`: the parameter list cut
    at its first top-level parenthesis (templates' `<...>` kept)."""
    depth = 0
    for i, char in enumerate(text):
        if char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == "(" and depth == 0 and i > 0 and not text.startswith("(anonymous", i):
            return text[:i].strip()
    return text.strip()


def _frame(rest: str) -> str:
    where = ""
    if " from " in rest:
        rest, where = rest.rsplit(" from ", 1)
        where = os.path.basename(where.strip())
    elif " at " in rest:
        rest, where = rest.rsplit(" at ", 1)
        where = where.strip()
    name = function_name(rest) or "??"
    return f"    {name} ({where})" if where else f"    {name}"


def condense_gdb(text: str) -> str:
    """gdb's `thread apply all bt` as py-spy writes stacks."""
    out: list[str] = []
    for line in text.splitlines():
        head = GDB_THREAD.match(line)
        if head:
            out.append(f'Thread {head.group(1)}: "{head.group(2) or ""}"')
            continue
        frame = FRAME.match(line)
        if frame and out:
            out.append(_frame(frame.group("rest")))
    return "\n".join(out) + ("\n" if out else "")


def condense_eu(text: str) -> str:
    """eu-stack's `TID n:` / `#0  0x... name` lines as py-spy writes stacks."""
    out: list[str] = []
    for line in text.splitlines():
        head = EU_THREAD.match(line.strip())
        if head:
            out.append(f'Thread {head.group(1)}: ""')
            continue
        frame = FRAME.match(line.strip())
        if frame and out:
            out.append(f"    {function_name(frame.group('rest')) or '??'}")
    return "\n".join(out) + ("\n" if out else "")
