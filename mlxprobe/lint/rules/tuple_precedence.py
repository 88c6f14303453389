"""MLX248: `embedder, channels = get_embedder(n) if use else None, None`. A conditional
expression binds tighter than the comma, so the right side is the tuple
`(get_embedder(n) if use else None, None)`: the first name gets the whole pair the call
returns and the second is always None, whichever branch runs.

Measured (mlx 0.32.4 CPU, failure corpus fresh248 `lantern_ray_octave`, after
nerf_meets_mlx's create_NeRF, fixed by "fixed errors" with `else (None, None)`): the NeRF's
first `nn.Linear(None, width)` raised "TypeError: unsupported operand type(s) for /: 'float'
and 'NoneType'" while the model was built; parenthesised, the run trained (PSNR 8.1 -> 19.8).

Job: an assignment to a tuple of n names from a tuple display of n items whose first item is
`call(...) if test else None` and whose other items are all None: the author's fallback
`None, None` for a call that returns a pair. A conditional with any other fallback
(`lr, wd = 0.1 if big else 0.01, 0.0`) is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule


def is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def split_fallback(node: ast.Assign) -> bool:
    """`a, b = f() if c else None, None`."""
    target, value = node.targets[0], node.value
    if len(node.targets) != 1 or not isinstance(target, (ast.Tuple, ast.List)) or not (
            isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts) >= 2):
        return False
    first = value.elts[0]
    return (isinstance(first, ast.IfExp) and isinstance(first.body, ast.Call)
            and is_none(first.orelse) and all(is_none(e) for e in value.elts[1:]))


class ConditionalInTuple(Rule):
    """MLX248: `embedder_pos, channel_emb_pos = get_embedder(octave) if True else None, None`."""

    id = "MLX248"
    anchors = (" else None, None",)
    local = True  # one statement

    @staticmethod
    def may_fire(text: str) -> bool:
        return " else None, None" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            if split_fallback(node):
                yield self.hit(source, node.value)
