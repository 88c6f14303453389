"""MLX104: batches padded to their own longest sequence in a module that compiles without
`shapeless=True`. `mx.compile` traces again, and keeps the new graph, for every input shape
it has not seen; a width taken from each batch (`max(len(s) for s in seqs)`) gives a new
shape at almost every step, so the run compiles over and over and its memory climbs
(failure corpus fresh16 `charlm_pad_to_longest_compiled`: RSS climbing step over step; one
fixed width: flat).

Job: find a width computed per batch as the longest of its sequences (`max(len(s) for s in
...)`, `max(map(len, ...))`, `max(lens)` of a list the function builds), and used to pad or
shape an array (`width - len(s)`, `mx.zeros((n,
width))`, `mx.random.normal((b, width, d))`), in a module that calls `mx.compile` (or
`partial(mx.compile, ...)`) with no `shapeless=True`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import assignments, body_nodes
from ..names import last_name
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule
from .shapeless import shapeless
from .transforms import compiles

# The text of a longest length: `max(len(s) ...`, `max([len(s) ...`, `max(map(len, ...`,
# `max(lens)`.
LONGEST = re.compile(r"max\(\s*(?:\[\s*)?(?:len\(|map\(\s*len\b|\w+\)\s*(?:#|\n))")
BUILDERS = frozenset({"zeros", "ones", "full", "empty", "pad", "normal", "uniform", "randint",
                      "arange"})


def shape_fixed_compile(source: SourceFile) -> bool:
    """The module compiles with `mx.compile`/`partial(mx.compile, ...)`, none shapeless."""
    made = [c for c in source.of_type(ast.Call) if compiles(source, c)]
    decorated = [d for f in source.of_type(*FUNCTIONS) for d in f.decorator_list
                 if compiles(source, d)]
    found = made + decorated
    return bool(found) and not any(shapeless(c) for c in found)


def longest(value: ast.AST, lists: set[str]) -> bool:
    """`max(len(s) for s in seqs)`, `max([len(s) ...])`, `max(map(len, seqs))`, `max(lens)`
    of a list the function builds (fresh11 `b11_compiled_step_batch_maxlen_retrace`). A
    random draw as the width (fresh14 `a14_compile_per_length_cache`) is not read: tried,
    it gave 27 findings on 18 clean scripts that draw a shape at random and compile."""
    if not (isinstance(value, ast.Call) and last_name(value.func) == "max" and value.args):
        return False
    given = value.args[0]
    return isinstance(given, ast.Name) and given.id in lists or any(
        isinstance(n, ast.Call) and last_name(n.func) == "len"
        or isinstance(n, ast.Name) and n.id == "len" for n in descendants(given))


def pads(nodes: list[ast.AST], width: str) -> bool:
    """`width - len(...)`, or `width` among the arguments of an array builder."""
    for node in nodes:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(
                node.left, ast.Name) and node.left.id == width:
            return True
        if isinstance(node, ast.Call) and last_name(node.func) in BUILDERS and any(
                isinstance(n, ast.Name) and n.id == width for a in node.args
                for n in descendants(a)):
            return True
    return False


class PaddedToLongestCompiled(Rule):
    """MLX104: a per-batch padding width fed to a shape-specialised `mx.compile`."""

    id = "MLX104"
    anchors = ("compile",)
    local = True  # reads the batcher's block and the blocks that compile

    @staticmethod
    def may_fire(text: str) -> bool:
        return "compile" in text and "shapeless=True" not in text and (
            LONGEST.search(text) is not None)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        return lambda block: "compile" in block or LONGEST.search(block) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not shape_fixed_compile(source):
            return
        for function in source.of_type(*FUNCTIONS):
            nodes = body_nodes(source, function)
            pairs = list(assignments(nodes))
            lists = {t.id for t, v in pairs if isinstance(t, ast.Name)
                     and isinstance(v, (ast.List, ast.ListComp))}
            for target, value in pairs:
                if isinstance(target, ast.Name) and longest(value, lists) and pads(
                        nodes, target.id):
                    yield self.hit(source, value)
