"""MLX127: a function compiled without `inputs=`/`outputs=` draws from `mx.random` with no
explicit `key=`: the random state is read when the function is traced and is not an output,
so every call replays the same draw.

Job: find compiled functions (decorator or `mx.compile(f)`, `uncaptured_compiles`) whose code,
with the module's own functions it calls, draws random numbers (`compiled.draws`). Measured
(mlx 0.32.4 CPU): `@mx.compile` over `mx.random.categorical(x)` returned 7 at six calls in a
row, 7, 7, 3, 0, 2, 3 with `inputs=mx.random.state, outputs=mx.random.state`; failure corpus
fresh28 `grpo_compiled_sampler_frozen_key` (mlx-node's compiled sampler): every completion of
a GRPO group identical, every advantage 0, reward 0.10 for 1500 steps. A function that takes
its key as an argument (`key=`) is left alone; one that declares its state is MLX053's.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import calls, reach
from ..source import SourceFile
from .base import Rule
from .compiled import draws
from .tracing import mx_compiles
from .transforms import uncaptured_compiles


class ReplayedRandom(Rule):
    """MLX127: `@mx.compile` over a function that calls `mx.random.categorical(...)`."""

    id = "MLX127"
    anchors = ("random",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "random." in text and mx_compiles(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for function, where in uncaptured_compiles(source):
            if function in reported:
                continue
            if any(draws(source, c) for c in calls(reach(source, function.body))):
                reported.add(function)
                yield self.hit(source, where)
