"""The loop a busy hang spins in, quoted from the program's own source.

Job: a step after `classify`, beside `lint_evidence` (the verdict stays what the run showed).
When a run hung in an endless loop of its own Python (`hang:cpu_busy` whose evidence says
its main thread computes in the program's own Python, `computing_in`, or cycles among stacks
already seen, `looping`; never a stall in an MLX evaluation, where the loop around the line
is the training loop and not what spins), the main thread's innermost frame names a line;
this reads that file, finds the innermost `for`/`while` around the line and quotes its
header, and for a `while` the first `for` inside it: what decides whether the loop ever ends
is there (fresh183 `runelog_lm_blockloader`, mini-llama-mlx d9804ee: `while True:` around
`for i in range(n_batches):`, `n_batches` computed with `%` where `//` was meant, so 0, and
a generator that never yields). The quote goes to `spin` in the report entry and ends the
hint. Nothing here changes the verdict's kind, reason or evidence.

Reads files, as `lint_evidence` does; never the standard library, site-packages or mlxprobe.
Must not import: mlx, the child side, reporters.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .. import syntax
from .lint_evidence import FRAME, MAX_BYTES, foreign_roots, own

SPINNING = frozenset({"computing_in", "looping"})  # evidence keys of an endless loop
MAX_QUOTE = 120  # characters of a loop header quoted


def main_frame(stacks: str) -> tuple[Path, int] | None:
    """The main thread's innermost frame (file, line), from a faulthandler-style dump."""
    at = stacks.find("Main thread")
    block = stacks[at:].split("\n\n", 1)[0] if at >= 0 else ""
    found = FRAME.search(block)
    return (Path(found.group(1)), int(found.group(2))) if found else None


def innermost_loop(tree: ast.AST, line: int) -> ast.AST | None:
    """The deepest `for`/`while` whose lines hold `line`."""
    best = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.While, ast.AsyncFor)) and (
                node.lineno <= line <= (node.end_lineno or node.lineno)):
            if best is None or node.lineno >= best.lineno:
                best = node
    return best


def header(lines: list[str], node: ast.AST) -> str:
    return lines[node.lineno - 1].strip()[:MAX_QUOTE]


def quote(text: str, line: int) -> tuple[int, str] | None:
    """(the loop's line, its header, with a `while`'s first inner `for`) around `line`."""
    loop = innermost_loop(syntax.parse(text), line)
    if loop is None:
        return None
    lines = text.splitlines()
    said = f"`{header(lines, loop)}`"
    inner = next((n for n in ast.walk(loop) if isinstance(n, ast.For) and n is not loop), None)
    if isinstance(loop, ast.While) and inner is not None:
        said += f" around `{header(lines, inner)}` (line {inner.lineno})"
    return loop.lineno, said


def attach(entry: dict, stacks: str, cwd: Path | None = None) -> dict:
    """Add `spin` to a busy hang's entry and quote the loop at the end of its hint."""
    evidence = entry.get("evidence") or {}
    if entry.get("verdict") != "hang" or not SPINNING & set(evidence):
        return entry
    frame = main_frame(stacks or "")
    if frame is None:
        return entry
    path = (cwd or Path.cwd()) / frame[0]
    try:
        if not own(path.resolve(), foreign_roots()) or path.stat().st_size > MAX_BYTES:
            return entry
        found = quote(path.read_text(encoding="utf-8"), frame[1])
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return entry
    if found is None:
        return entry
    entry["spin"] = {"path": path.name, "line": found[0], "loop": found[1]}
    said = f"the loop it spins in, {path.name}:{found[0]}: {found[1]}: check what ends it"
    entry["hint"] = "\n".join(p for p in (entry.get("hint") or "", said) if p)
    return entry
