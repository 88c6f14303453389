"""MLX177: an array argument whose only reads are its shape before the function binds its
name again from something else (`B, L, D = queries.shape`, then `queries, keys, values =
mx.split(self.in_proj(keys), 3, axis=-1)`): the argument's values never reach the result, so
whatever the caller passes in (a learned query, a probe, a second input) gets no gradient
and the parameter that made it never trains.

Measured (mlx 0.32.4 CPU, failure corpus fresh109 `attn_pool_probe_ignored`, from
mlx-embeddings PR 45, whose attention pooling projected q, k and v all from `keys`): the
pooling probe's gradient was exactly 0 at every step and it never changed over 12 epochs
while the loss fell 1.01 -> 0.50; projected from `queries`, the probe's gradient at step 1 was
1.2e-3 and it moved 0.35.

Job: in each function, a parameter without a default whose loads before its first
unconditional rebinding (a top-level assignment that unpacks into it, `q, k, v = ...`, from a
value that does not read it) are all `.shape`, `.ndim`, `.dtype` or `.size` reads, at least
one of them.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator

from ..finding import Finding
from ..flow import defaults, walk
from ..markers import has_word
from ..source import SourceFile
from .base import Rule

METADATA = frozenset({"shape", "ndim", "dtype", "size"})
DEF_PARAMS = re.compile(r"def \w+\(([^)]*)\)")  # a def's parameters, one group
TARGETS = re.compile(r"[ \t]*(?:\w+[ \t]*,[ \t]*)+\w+[ \t]*")  # `q, k, v `


def unpacked_names(text: str) -> set[str]:
    """The names lines of `text` unpack into (`q, k, v = ...`) from a value that does not
    name them, read line by line with `str` tests first (a multi-line pattern tried at every
    position costs more)."""
    found: set[str] = set()
    for line in text.split("\n"):
        if "," in line and "=" in line:
            left, right = line.split("=", 1)
            if "," in left and TARGETS.fullmatch(left):
                found.update(name for name in (w.strip() for w in left.split(","))
                             if not has_word(right, name))
    return found


def plain_parameters(function: ast.FunctionDef) -> list[str]:
    """The positional parameters with no default, `self` and `cls` left out."""
    given = defaults(function)
    return [a.arg for a in (*function.args.posonlyargs, *function.args.args)
            if a.arg not in given and a.arg not in ("self", "cls")]


def uses(node: ast.AST, names: set[str]) -> tuple[Counter, Counter, set[str]]:
    """(metadata reads, other loads, names bound) of `names` in `node`, one walk, nested
    functions left out."""
    nodes = list(walk([node]))
    meta_of = {id(a.value) for a in nodes if type(a) is ast.Attribute and a.attr in METADATA}
    meta, other, bound = Counter(), Counter(), set()
    for n in nodes:
        if type(n) is ast.Name and n.id in names:
            if type(n.ctx) is ast.Store:
                bound.add(n.id)
            elif id(n) in meta_of:
                meta[n.id] += 1
            else:
                other[n.id] += 1
    return meta, other, bound


def rebinding(stmt: ast.stmt, name: str) -> ast.Name | None:
    """The target binding `name` when `stmt` unpacks into names, `name` among them (`q, k,
    v = ...`), from a value that does not read it."""
    if type(stmt) is not ast.Assign or any(uses(stmt.value, {name})[:2]):
        return None
    targets = [n for t in stmt.targets if type(t) is ast.Tuple for n in t.elts
               if type(n) is ast.Name and n.id == name]
    return targets[0] if targets else None


def overwritten(function: ast.FunctionDef, names: list[str]) -> Iterator[ast.Name]:
    """Where each of `names` is bound again after only its metadata was read."""
    open_names, metadata = set(names), Counter()
    for stmt in function.body:
        if not open_names:
            return
        meta, other, bound = uses(stmt, open_names)
        for name in sorted(bound & open_names):
            target = rebinding(stmt, name)
            if target is not None and metadata[name] and not other[name]:
                yield target
        open_names -= bound | set(other)
        metadata.update(meta)


class ShapeOnlyArgument(Rule):
    """MLX177: `B, L, D = queries.shape; queries, keys, values = split(proj(keys))`."""

    id = "MLX177"
    anchors = (".shape", ".ndim", ".dtype", ".size")
    local = True  # one function

    @staticmethod
    def may_fire(text: str) -> bool:
        """A parameter whose shape is read and a line that unpacks into it from a value that
        does not name it (a text test: most blocks read some `x.shape`, and parsing each
        costs lint a tenth of its time)."""
        if "def " not in text or not any(a in text for a in ShapeOnlyArgument.anchors):
            return False
        unpacked = unpacked_names(text)
        if not unpacked:
            return False
        params = {w.split(":")[0].split("=")[0].strip() for found in DEF_PARAMS.findall(text)
                  for w in found.split(",")}
        return any(f"{name}.{attr}" in text for name in unpacked & params for attr in METADATA)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(ast.FunctionDef):
            names = plain_parameters(function)
            if names:
                for target in overwritten(function, names):
                    yield self.hit(source, target)
