"""MLX080: a layer built in `__init__` and never used, while a sibling of the same kind is
called twice in the forward: a copy-pasted call names the wrong layer.

Job: in an nn.Module subclass, find `self.b = nn.T(...)` that no code of the file reads
again (no `.b` anywhere outside its binding) while another attribute `self.a = nn.T(...)`
of the same layer type is called two or more times in `__call__`. The unused layer's
parameters never get a gradient and keep their initial values; the doubled one does the
work of both. Measured (mlx 0.32.4 CPU, failure corpus fresh8
`b8_decoder_cross_norm_reused`, mlx issue 1636): a decoder block's second LayerNorm
replaced by a second call of the first: training still reached val_acc 1.000, and both
blocks' `ln2` kept exactly their initial weights. A layer kept for loading weights and used
elsewhere is read somewhere (`.b`), and a single unused layer with no doubled sibling is left
alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import body_assignments, self_attr
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

BUILT = re.compile(r"self\.(\w+) = nn\.")
DOTTED = re.compile(r"\.(\w+)")


def built_layers(source: SourceFile, init: ast.AST) -> dict[str, tuple[str, ast.AST]]:
    """`self.x = nn.T(...)` in `__init__`: attribute -> (T, the assignment's target)."""
    found = {}
    for target, value in body_assignments(source, init):
        name = self_attr(target)
        kind = source.imports.resolve(value.func) if isinstance(value, ast.Call) else None
        if name and kind and kind.startswith("mlx.nn."):
            found[name] = (kind, target)
    return found


def read_attributes(source: SourceFile) -> Counter:
    """How often each attribute name is read anywhere in the module."""
    return Counter(n.attr for n in source.of_type(ast.Attribute)
                   if isinstance(n.ctx, ast.Load))


def unread_attributes(source: SourceFile) -> set[str]:
    """The attribute names the module binds and never reads, named in no string either
    (`getattr`, `freeze(keys=[...])`): MLX131, MLX217."""
    reads = read_attributes(source)
    named = {n.value for n in source.of_type(ast.Constant) if isinstance(n.value, str)}
    bound = {n.attr for n in source.of_type(ast.Attribute) if isinstance(n.ctx, ast.Store)}
    return {name for name in bound if reads[name] == 0 and name not in named}


def inits(source: SourceFile) -> Iterator[ast.AST]:
    """The `__init__` methods of the module's nn.Module classes."""
    for cls in module_classes(source):
        yield from (f for f in cls.body if isinstance(f, FUNCTIONS) and f.name == "__init__")


def called_in(function: ast.AST) -> Counter:
    """How often `self.x(...)` is called in a method, per attribute."""
    return Counter(a for n in descendants(function) if isinstance(n, ast.Call)
                   and (a := self_attr(n.func)))


class UnusedSibling(Rule):
    """MLX080: `self.ln2 = nn.LayerNorm(d)` never read, `self.ln1(...)` called twice."""

    id = "MLX080"
    anchors = ("= nn.",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `self.x = nn.` binding whose `.x` occurs nowhere else in the text, and one
        such layer called twice (`self.y(` twice)."""
        if "__call__" not in text or "= nn." not in text:
            return False
        built = set(BUILT.findall(text))
        if not any(text.count(f"self.{name}(") >= 2 for name in built):
            return False  # no layer called twice
        seen = Counter(DOTTED.findall(text))
        return any(seen[name] == 1 for name in built)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reads = None
        for cls in module_classes(source):
            methods = {f.name: f for f in cls.body if isinstance(f, FUNCTIONS)}
            if "__init__" not in methods or "__call__" not in methods:
                continue
            layers = built_layers(source, methods["__init__"])
            twice = {layers[a][0] for a, n in called_in(methods["__call__"]).items()
                     if n >= 2 and a in layers}
            if not twice:
                continue
            reads = reads if reads is not None else read_attributes(source)
            for name, (kind, target) in layers.items():
                if kind in twice and reads[name] == 0:
                    yield self.hit(source, target)
