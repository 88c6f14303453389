"""Parse only what can hold a finding: the byte-level prefilter and the partial parse.

Job: decide, from the text alone, which rules can fire in a file (each rule's `may_fire`),
and for rules that read no more than one top-level definition (`Rule.local`), parse only the
top-level blocks whose text can hold their finding, with every other block blanked to its
newlines (so line numbers stay exact); for rules that read no more than one method
(`Rule.in_methods`), only the methods of a class they want, with the class's own lines and
its `__init__` (over the three packages: 3.47 -> 2.47 MB of kept blocks with the rules'
tighter tests, 1.18 MB of whole files besides). `ast.parse` of all of mlx-lm, mlx-lm-lora and
mlx-vlm alone takes ~2.9 s on a quiet core; most of those files are model definitions that
hold no training loop, so this is where the time goes, not in the rules.

Why by hand: no parser offers "parse only the blocks that contain X"; a split at a top-level
`def`/`class`/`@` line (or a method's, at column 4) that falls inside a string or brackets
leaves the kept text unbalanced, so the parse fails and the whole file is parsed instead
(never a wrong tree from a bad split).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from .. import syntax

# A top-level definition starts at column 0: a decorator, `def`, `async def` or `class`.
BLOCK = re.compile(r"^(?:@|def |async def |class )", re.MULTILINE)
# A method of a top-level class starts at column 4: a decorator, `def` or `async def`.
METHOD = re.compile(r"^    (?:@|def |async def )", re.MULTILINE)
# What a block defines at column 0: a function, a class or a module-level name.
DEFINES = re.compile(r"^(?:(?:async )?def |class )?(\w+)\s*[(:=]", re.MULTILINE)
# The names a block may run: called (`name(`, `self.name(`), or handed to a transformation
# (`nn.value_and_grad(model, loss_fn)`, `mx.compile(step)`).
CALLED = re.compile(r"\b(\w+)\s*\(")
HANDED = re.compile(r"(?:grad|compile|vmap|checkpoint)\(([^()]*)\)")
WORD = re.compile(r"\w+")


_LAST: dict[str, object] = {}  # the last text cut, its pieces and closures (rules ask in turn)


def blocks(text: str) -> list[str]:
    """The text cut before each top-level definition (its decorators included): the first
    piece is the module's head (docstring, imports, code before any definition). The last
    text's cut is kept: the engine and several rules' `wanted` ask for the same file."""
    if _LAST.get("text") is not text:
        _LAST.clear()
        _LAST.update(text=text, pieces=_blocks(text))
    return _LAST["pieces"]  # type: ignore[return-value]


def _blocks(text: str) -> list[str]:
    return cut(text, BLOCK)


def cut(text: str, starts_at: re.Pattern[str]) -> list[str]:
    """`text` cut before each match of `starts_at` that does not follow a decorator line."""
    starts: list[int] = []
    decorated = False
    for match in starts_at.finditer(text):
        if not decorated:
            starts.append(match.start())
        decorated = text[match.end() - 1] == "@"
    bounds = [0, *[s for s in starts if s > 0], len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def blank(piece: str) -> str:
    return "\n" * piece.count("\n")


def kept_text(text: str, wanted: Callable[[str], bool],
              in_method: Callable[[str], bool] = lambda part: False) -> tuple[str, bool]:
    """The text with every block but the head and the wanted ones blanked to its newlines,
    and whether any block was wanted. A block `wanted` accepts is kept whole; of a class
    block it does not accept, the methods `in_method` accepts are kept (`methods_kept`)."""
    pieces = blocks(text)
    kept = [(p, True) if wanted(p) else methods_kept(p, in_method) for p in pieces[1:]]
    return pieces[0] + "".join(k for k, _ in kept), any(
        w for _, w in kept) or wanted(pieces[0])


def methods_kept(piece: str, in_method: Callable[[str], bool]) -> tuple[str, bool]:
    """A class block with its own lines, its `__init__` and the methods `in_method` accepts
    (a function block: whole if `in_method` accepts it), and whether anything was; blank
    when nothing was."""
    if not (piece.startswith("class ") or piece.startswith("@") and "\nclass " in piece):
        return (piece, True) if in_method(piece) else (blank(piece), False)
    parts = cut(piece, METHOD)
    keep = [in_method(p) for p in parts[1:]]
    if not any(keep):
        return blank(piece), False
    return parts[0] + "".join(p if k or "def __init__(" in p else blank(p)
                              for p, k in zip(parts[1:], keep)), True


def parse_blocks(text: str, path: str, wanted: Callable[[str], bool],
                 in_method: Callable[[str], bool] = lambda part: False) -> ast.Module | None:
    """The tree of the wanted blocks only (None if none is wanted); the whole file's tree
    when the cut cannot be parsed. Raises SyntaxError when the file itself cannot."""
    kept, any_wanted = kept_text(text, wanted, in_method)
    if not any_wanted:
        return None
    if kept == text:
        return syntax.parse(text, filename=path)
    try:
        return syntax.parse(kept, filename=path)
    except (SyntaxError, ValueError):
        return syntax.parse(text, filename=path)


def closure(text: str, seed: Callable[[str], bool]) -> set[str]:
    """The blocks `seed` accepts and, to a fixed point, every block that defines
    (at column 0) a name one of the kept blocks runs, so a rule that follows calls
    (`step` -> `grad_fn` -> `loss_fn` -> a helper) sees each function on the way. Kept per
    seed for the last text (three rules follow what the file compiles)."""
    pieces = blocks(text)
    key = ("closure", seed)
    if key not in _LAST:
        _LAST[key] = _closure(pieces, seed)  # type: ignore[index]
    return _LAST[key]  # type: ignore[index,return-value]


def around(text: str, seed: Callable[[str], bool],
           also: Callable[[str], bool] = lambda block: False) -> set[str]:
    """The blocks `seed` (or `also`) accepts, the blocks that name what the seeded blocks
    define (their callers), and, to a fixed point, what all of those run (`closure`)."""
    names = {n for block in blocks(text) if seed(block) for n in DEFINES.findall(block)}
    return closure(text, lambda block: seed(block) or also(block)
                   or any(n in block for n in names))


def _closure(pieces: list[str], seed: Callable[[str], bool]) -> set[str]:
    keep = [seed(p) for p in pieces]
    defined = [set(DEFINES.findall(p)) for p in pieces]
    used = {w for p, k in zip(pieces, keep) if k for w in runs(p)}
    grew = True
    while grew:
        grew = False
        for i, piece in enumerate(pieces):
            if not keep[i] and defined[i] & used:
                keep[i], grew = True, True
                used.update(runs(piece))
    return {p for p, k in zip(pieces, keep) if k}


def runs(block: str) -> set[str]:
    """The names a block calls or hands to a transformation."""
    handed = {w for args in HANDED.findall(block) for w in WORD.findall(args)}
    return set(CALLED.findall(block)) | handed
