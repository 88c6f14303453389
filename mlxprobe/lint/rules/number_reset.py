"""MLX143: an array attribute reset to a Python number, then written element by element
(`self.grad = mx.zeros_like(v)` in `__init__`, `self.grad = 0` in `zero_grad`, and elsewhere
`table.grad[row] += d`): a number takes no item assignment, so the first write after a reset
raises TypeError ("'int' object does not support item assignment"). Whole-array arithmetic
(`g = g + d`) works with the number, which hides the bug until an indexed write runs.

Measured (mlx 0.32.4 CPU, failure corpus fresh41 `embed_grad_reset_int`, a hand-rolled layer
framework's `Param.zero_grad`): the linear layers trained through the reset, the embedding's
row-wise gradient write raised TypeError at its first step after it; `mx.zeros_like(self.grad)`
trained.

Job: for each class, the attributes some method binds to an MLX array (an `mlx.core` call)
and some method rebinds to a number literal; a finding at the number when the module writes
that attribute by index (`x.attr[i] = ...`, `x.attr[i] += ...`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import is_mx_array_call
from ..finding import Finding
from ..flow import self_attr
from ..source import SourceFile, descendants
from .base import Rule

RESET = re.compile(r"self\.(\w+)\s*=\s*-?\d+(?:\.\d*)?\s*$", re.MULTILINE)
FROM_MX = re.compile(r"self\.(\w+)\s*=\s*mx\.")
# `.name[...] =` or `+=`: each `.name[` is tried, overlapping ones too (fixed patterns, where
# one built per name is compiled anew for each file)
INDEXED = re.compile(r"\.(\w+)\[")
WRITTEN = re.compile(r"[^\]\n]*\]\s*\+?=")


def written_by_index(text: str) -> set[str]:
    return {m.group(1) for m in INDEXED.finditer(text) if WRITTEN.match(text, m.end())}


def indexed_writes(source: SourceFile) -> set[str]:
    """The attribute names the module writes by index: `x.attr[i] = v`, `x.attr[i] += v`."""
    found = set()
    for node in source.of_type(ast.Assign, ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        found |= {t.value.attr for t in targets
                  if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Attribute)}
    return found


def self_bindings(cls: ast.ClassDef) -> list[tuple[str, ast.AST]]:
    """(attribute, value) of every `self.attr = value` in the class's methods."""
    return [(attr, node.value) for node in descendants(cls) if isinstance(node, ast.Assign)
            for target in node.targets if (attr := self_attr(target)) is not None]


def _number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


class ArrayResetToNumber(Rule):
    """MLX143: `self.grad = 0` where `self.grad` is an array the module writes by index."""

    id = "MLX143"
    anchors = ("self.",)
    local = False  # the class, its binding and the indexed write sit in different blocks

    @staticmethod
    def may_fire(text: str) -> bool:
        """An attribute set to a number on a line of its own, also set from `mx.` and written
        by index somewhere (three fixed-pattern scans: most modules have none, and
        a whole-module parse of every file with a `= 0` and an indexed write cost 0.8 s of
        the three packages' 2.9)."""
        if "self." not in text or "] " not in text:
            return False
        named = set(RESET.findall(text))
        named = named & set(FROM_MX.findall(text)) if named else named
        return bool(named) and not named.isdisjoint(written_by_index(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        written = indexed_writes(source)
        if not written:
            return
        for cls in source.of_type(ast.ClassDef):
            bound = self_bindings(cls)
            arrays = {a for a, v in bound if is_mx_array_call(source, v)}
            for attr, value in bound:
                if attr in arrays and attr in written and _number(value):
                    yield self.hit(source, value)
