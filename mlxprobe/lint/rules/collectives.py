"""MLX073: a collective's result evaluated only on some ranks: the ranks that evaluate it
wait for ever for the ones that never run it.

Job: MLX's collectives (`mx.distributed.all_sum`, `all_gather`, `all_max`, `all_min`,
`sum_scatter`) are lazy like every op: a rank takes part only when it evaluates the result.
In a function (or the module's top-level code), find a name bound to a collective's result
whose every evaluation (`mx.eval(...)`, `.item()`, `.tolist()`, `np.array(...)`, `print`,
`float`) lies under an `if` that tests the rank (a name bound from `group.rank()`, or a
`.rank()` call in the test) while the collective itself is not: the ranks that skip the
branch never run it. (A collective built inside a rank's branch is that branch's protocol:
mlx-lm's `share.py` sends on one rank and receives on the others.)
Measured (mlx 0.32.4 CPU, ring backend, 2 ranks, failure corpus fresh7
`rank0_only_all_sum_hang`, mlx issue 1210): the epoch's loss averaged with `all_sum` and
printed by rank 0 only: rank 0 blocked in the first epoch's `.item()`, rank 1 finished
and left; with `mx.eval(avg)` on every rank first, both finish. A collective evaluated on
every rank, before or outside the branch, is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import evaluation
from ..finding import Finding
from ..flow import assignments, names_in, scope_nodes
from ..patterns import at_word
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

COLLECTIVES = frozenset(f"mlx.core.distributed.{n}" for n in (
    "all_sum", "all_gather", "all_max", "all_min", "sum_scatter"))
SHOWN = frozenset({"print", "float", "int"})
RANK_TEST = at_word(r"\bif [^\n]*rank")


def rank_names(nodes: list[ast.AST]) -> set[str]:
    """Names bound from a `.rank()` call (`rank = group.rank()`, `r, n = g.rank(), g.size()`)."""
    return {t.id for t, v in assignments(nodes) if isinstance(t, ast.Name) and rank_call(v)}


def rank_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "rank" for n in descendants(node))


def evaluations(source: SourceFile, nodes: list[ast.AST], name: str) -> list[ast.Call]:
    """The calls that evaluate `name`: mx.eval/np.array/print/float of it, `name.item()`."""
    found = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        kind = evaluation(source, node)
        shown = isinstance(node.func, ast.Name) and node.func.id in SHOWN
        if kind == "item" and name in names_in(node.func) or (
                (kind in ("eval", "numpy") or shown) and any(
                    name in names_in(a) for a in node.args)):
            found.append(node)
    return found


def under_rank_test(source: SourceFile, node: ast.AST, ranks: set[str]) -> bool:
    """An `if` around `node` (in its function) tests the rank."""
    current = source.parents.get(node)
    while current is not None and not isinstance(current, (*FUNCTIONS, ast.Module)):
        if isinstance(current, ast.If) and (ranks & names_in(current.test)
                                            or rank_call(current.test)):
            return True
        current = source.parents.get(current)
    return False


class CollectiveOnSomeRanks(Rule):
    """MLX073: `avg = mx.distributed.all_sum(x)` evaluated only under `if rank == 0:`."""

    id = "MLX073"
    anchors = ("rank()",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "rank()" in text and ("all_sum" in text or "all_gather" in text or "all_max"
                                     in text or "all_min" in text) and RANK_TEST.search(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        module_ranks = rank_names(scope_nodes(source, source.tree))  # once: read by all
        scopes = {id(source.enclosing(c) or source.tree): source.enclosing(c) or source.tree
                  for c in source.of_type(ast.Call)
                  if source.imports.resolve(c.func) in COLLECTIVES}
        for scope in scopes.values():  # only where a collective is called
            nodes = scope_nodes(source, scope)
            ranks = rank_names(nodes) | module_ranks
            for target, value in assignments(nodes):
                if not (isinstance(target, ast.Name) and self._collective(source, value)) or \
                        under_rank_test(source, value, ranks):
                    continue
                seen = evaluations(source, nodes, target.id)
                if seen and all(under_rank_test(source, e, ranks) for e in seen):
                    yield self.hit(source, value)

    @staticmethod
    def _collective(source: SourceFile, value: ast.AST) -> bool:
        return any(isinstance(n, ast.Call) and source.imports.resolve(n.func) in COLLECTIVES
                   for n in descendants(value))
