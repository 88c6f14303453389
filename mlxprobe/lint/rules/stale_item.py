"""MLX263: a loop whose own item is never read, while its body reads a name the loop before
it bound per item: every pass uses the last item of the earlier loop (`for i in prompts:
logit = model([prompt], ...)`, `prompt` left over from `for q in questions: prompt, answer =
...`). No error is raised; every pass computes the same thing, so a rollout, a batch or an
evaluation silently repeats one example.

Measured (mlx 0.32.4 CPU, failure corpus fresh229 `gecko_grpo_prefill`, from
timgestson/mlx-grpo 5452908): a GRPO rollout prefilled each question's KV cache with
`model([prompt], ...)` inside `for i in padded_prompts:`, `prompt` being the last question
of the batch's earlier loop: first-token accuracy flat at 0.25 from step 90 to 159 and
greedy answers wrong on the other questions; with `model([i], ...)` the run learned them.

Job: two `for` loops in one block, the second after the first and over a collection's items
(not a `range(...)` count); the second's target names (not `_`) are read nowhere in its body
(a comprehension's or lambda's own names apart); its body reads a name that the first loop's body
binds (an assignment, not the first loop's target) and that nothing binds between the two
loops or in the second before the read.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assigned, bound
from ..source import SourceFile
from .base import TRAINS, Rule, trains

BLOCKS = ("body", "orelse", "finalbody")


def targets(loop: ast.For) -> set[str]:
    return set(assigned(loop.target)) - {"_"}


def reads(nodes: list[ast.AST]) -> list[ast.Name]:
    """Names read in `nodes`, but those a comprehension, lambda or nested function binds
    for itself (`sum(f(b) for b in window)` reads no outer `b`)."""
    walked = [n for s in nodes for n in ast.walk(s)]
    own = {n.id for c in walked if isinstance(c, ast.comprehension)
           for n in ast.walk(c.target) if isinstance(n, ast.Name)}
    own |= {a.arg for f in walked if isinstance(f, (ast.Lambda, ast.FunctionDef))
            for a in ast.walk(f.args) if isinstance(a, ast.arg)}
    return [n for n in walked if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and n.id not in own]


def over_items(loop: ast.For) -> bool:
    """The loop goes over a collection's items, not a count (`range(...)` repeats)."""
    it = loop.iter
    return not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                and it.func.id == "range")


def binds(stmts: list[ast.AST]) -> set[str]:
    """Names bound anywhere in `stmts` (assignments, loop targets, `with ... as`)."""
    found: set[str] = set()
    for s in stmts:
        for n in ast.walk(s):
            found |= bound(n)
            if isinstance(n, ast.withitem) and n.optional_vars is not None:
                found |= set(assigned(n.optional_vars))
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                found.add(n.name)
    return found


class StaleLoopItem(Rule):
    """MLX263: `for i in prompts: model([prompt])`, `prompt` the earlier loop's last."""

    id = "MLX263"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return "for " in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for owner in source.of_type(ast.Module, ast.FunctionDef, ast.For, ast.While, ast.If,
                                    ast.With):
            for field in BLOCKS:
                block = getattr(owner, field, None)
                if isinstance(block, list):
                    yield from self._block(source, block)

    def _block(self, source: SourceFile, block: list[ast.stmt]) -> Iterator[Finding]:
        loops = [(k, s) for k, s in enumerate(block) if isinstance(s, ast.For)]
        for (i, first), (j, second) in zip(loops, loops[1:]):
            items = targets(second)
            used = reads(second.body)
            if not items or not over_items(second) or items & {n.id for n in used}:
                continue
            per_item = (binds(first.body) - targets(first)) - binds(block[i + 1:j])
            stale = [n for n in used if n.id in per_item and not self._rebound(second, n)]
            if stale:
                yield self.hit(source, stale[0])

    @staticmethod
    def _rebound(loop: ast.For, name: ast.Name) -> bool:
        """The second loop binds `name` itself before that read."""
        return any(n.lineno < name.lineno for s in loop.body for n in ast.walk(s)
                   if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                   and n.id == name.id)
