"""MLX142: a seed tested for its truth before it seeds (`if seed: np.random.seed(seed)`):
0 is falsy, so seed 0, the most common seed there is, seeds nothing and the run takes its
order from whatever state the generator was in, a different one in every process.

Measured (mlx 0.32.4 CPU, failure corpus fresh41 `seed_zero_batch_order`, mlx-lm PR 1661:
`iterate_batches` seeded NumPy under `if seed:`): two runs of one config with seed=0 saw
different batch orders, their loss curves apart by up to 0.058; with `if seed is not None:`
they were identical.

Job: an `if` whose test is a name or attribute ending in `seed` (`seed`, `args.seed`,
`self.data_seed`), read bare, whose body calls a seeding function
(`mx.random.seed`, `np.random.seed`, `random.seed`, `np.random.default_rng`,
`mx.random.key`, `random.Random`) with that same expression.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import calls
from ..names import dotted
from ..patterns import at_word
from ..source import SourceFile, descendants
from .base import Rule

SEED_NAME = re.compile(r"(?:^|_)seed$", re.IGNORECASE)
SEEDERS = frozenset({"mlx.core.random.seed", "mlx.core.random.key", "numpy.random.seed",
                     "numpy.random.default_rng", "numpy.random.RandomState", "random.seed",
                     "random.Random"})
IF_SEED = at_word(r"\bif\s+[\w.]*seed\s*:", re.IGNORECASE)


def seed_test(test: ast.AST) -> ast.AST | None:
    """The seed a test reads for its truth (`seed`, `args.seed`), or None."""
    parts = dotted(test) if isinstance(test, (ast.Name, ast.Attribute)) else None
    return test if parts and SEED_NAME.search(parts[-1]) else None


class FalsySeed(Rule):
    """MLX142: `if seed: np.random.seed(seed)` skips seed 0."""

    id = "MLX142"
    anchors = ("seed",)
    local = True  # one `if` and the module's imports

    @staticmethod
    def may_fire(text: str) -> bool:
        return "seed" in text and IF_SEED.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for branch in source.of_type(ast.If):
            seed = seed_test(branch.test)
            if seed is None:
                continue
            wanted = ast.dump(seed)
            body = [n for stmt in branch.body for n in descendants(stmt)]
            if any(source.imports.resolve(c.func) in SEEDERS
                   and any(ast.dump(a) == wanted for a in c.args) for c in calls(body)):
                yield self.hit(source, branch.test)
