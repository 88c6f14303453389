"""MLX165: `True`/`False` given by position to an `mlx.nn.losses` function, in a position
whose parameter is no flag: `nn.losses.binary_cross_entropy(p, y, False)` puts `False` in
`weights` (the third parameter), not `with_logits` (the fourth). The loss raises
"AttributeError: 'bool' object has no attribute 'shape'", or, where the slot takes a number
(`axis`, `eps`), a bool is an int and the call runs with 0 or 1 there.

Measured (mlx 0.32.4 CPU, failure corpus fresh56 `bce_flag_lands_in_weights`, mlx PR 3807
fixed the docstring that listed `with_logits` before `weights`): the validation loss raised
that AttributeError at the end of the first epoch; `with_logits=False` by keyword runs.

Job: calls of the losses in `loss_signatures` with a bool constant among their positional
arguments at an index whose parameter is not a flag there. Must not import: mlx, anything
of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..loss_signatures import FLAGS, PARAMETERS
from ..source import SourceFile
from .base import Rule

PREFIX = "mlx.nn.losses."


def misplaced(name: str, call: ast.Call) -> ast.AST | None:
    """The first bool constant given by position where `name`'s parameter is no flag."""
    params = PARAMETERS.get(name, ())
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return None
        if isinstance(arg, ast.Constant) and type(arg.value) is bool and index < len(params) \
                and (name, params[index]) not in FLAGS:
            return arg
    return None


class PositionalFlag(Rule):
    """MLX165: `binary_cross_entropy(p, y, False)`: a flag in another parameter's place."""

    id = "MLX165"
    anchors = ("losses",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("True" in text or "False" in text) and "losses" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            name = source.imports.resolve(call.func) or ""
            if name.startswith(PREFIX) and misplaced(name[len(PREFIX):], call) is not None:
                yield self.hit(source, call)
