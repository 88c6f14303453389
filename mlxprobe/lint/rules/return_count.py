"""MLX204: a call of one of the file's own functions unpacked into more or fewer names than
the function returns: `recon, kl, div = compute_loss(...)` where every `return` of
`compute_loss` gives a tuple of four. Python raises "too many values to unpack" (or "not
enough") the first time the line runs, typically after a loss function gained a term and one
of its callers was not updated (pylint's `unbalanced-tuple-unpacking`, kept to the one shape
a training script has).

Measured (mlx 0.32.4 CPU, failure corpus fresh191 `selfies_cvae_unpack`, MLX-VAE b2f77fc):
a VAE whose `compute_loss` returned (total, recon, kl, diversity) was unpacked into three
names in its training step and raised ValueError: too many values to unpack (expected 3) at
the first step; `_, recon, kl, div = compute_loss(...)` trains.

Job: in a file that trains (`base.trains`), an assignment whose target is a tuple or list of
plain names (no starred name) and whose value calls a name the file defines once as a
function (`SourceFile.local_function`), every `return` of which (nested functions and
classes left out) gives a tuple display of one and the same length, other than the
target's; a function that also returns something else, returns nothing, or yields is left
alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import walk
from ..source import FUNCTIONS, SourceFile
from .base import Rule, trains


class ReturnCountUnpacked(Rule):
    """MLX204: a local function's returned tuple unpacked into another count of names."""

    id = "MLX204"
    anchors = ("return ",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "return " in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            target, value = node.targets[0], node.value
            if len(node.targets) == 1 and isinstance(target, (ast.Tuple, ast.List)) \
                    and all(isinstance(e, ast.Name) for e in target.elts) \
                    and isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
                count = returned_count(source.local_function(value.func.id))
                if count is not None and count != len(target.elts):
                    yield self.hit(source, node)


def returned_count(function: ast.AST | None) -> int | None:
    """The one length of the tuple displays every `return` of `function` gives, else None."""
    if not isinstance(function, FUNCTIONS):
        return None
    counts: set[int | None] = set()
    for node in walk(function.body):  # nested functions and classes left out
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return None
        if isinstance(node, ast.Return):
            value = node.value
            counts.add(len(value.elts) if isinstance(value, ast.Tuple) and not any(
                isinstance(e, ast.Starred) for e in value.elts) else None)
    return counts.pop() if len(counts) == 1 else None
