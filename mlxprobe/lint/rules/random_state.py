"""MLX094: an assignment into `mx.random.state` (`mx.random.state[0] = key`), which is
read-only since mlx 0.32.1: it raises TypeError where the program rewinds or reseeds.

Job: find an assignment whose target is a subscript of what resolves to
`mlx.core.random.state`. Measured (mlx 0.32.4 CPU, failure corpus fresh12
`b12_rng_state_rewind_assign`): `TypeError: '_RandomState' object does not support item
assignment` at the first validation call; `mx.random.seed(n)` or an explicit
`key=mx.random.key(n)` does what the rewind meant.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

STATE = "mlx.core.random.state"


class RandomStateAssigned(Rule):
    """MLX094: `mx.random.state[0] = key`."""

    id = "MLX094"
    anchors = ("random.state[",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "random.state[" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign, ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and source.imports.resolve(
                        target.value) == STATE:
                    yield self.hit(source, target)
