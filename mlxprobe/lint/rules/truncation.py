"""MLX138: an episode cut by a time limit stored as terminal where a bootstrapped target reads
it: `done = terminated or truncated`, then `done` goes into the replay buffer (or a call), and
the module's target masks the next state's value with `(1 - done)`. A truncated episode did
not end: its next state still has a value, and zeroing it teaches the value function that the
last steps before the limit are worth only their reward.

Gymnasium's `step` returns the two flags apart for this reason (`terminated, truncated`); the
names are the API's, so the rule reads them: the flag combined from an operand whose name
holds `trunc`.

Measured (mlx 0.32.4 CPU, failure corpus fresh35 `dqn_timelimit_bootstrap`, from
mlx-baselines3's fix): a DQN on a task that never terminates, under a time limit, stored
`done = terminated or truncated`: its TD loss sat at 11.9-12.9 from step 1000 to 6000 with Q
about 26 below Q*; with `done = terminated` the TD loss fell 0.26 -> 0.00005 and Q matched Q*
(rmse 0.005).

Job: find `x = a or b` (or `a | b`) with an operand named `*trunc*`, whose result is stored
or passed on (an argument, an element of a tuple or list), not only tested (`if x:` to reset
the environment is right), in a module that masks a target with `(1 - ...)`.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import scope_nodes
from ..source import FUNCTIONS, SourceFile
from .base import Rule

MASKS = ("(1 - ", "(1.0 - ", "(1. - ")


def truncation(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return "trunc" in name.lower()


def combined(value: ast.AST) -> bool:
    """`terminated or truncated`, `term | trunc`: a flag made with the truncation in it."""
    if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or):
        return any(truncation(v) for v in value.values)
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.BitOr):
        return truncation(value.left) or truncation(value.right)
    return False


def passed_on(nodes: list[ast.AST], name: str) -> bool:
    """`name` is an argument of a call or an element of a tuple or list (stored, handed on),
    directly or inside a conversion (`float(done)`)."""
    for node in nodes:
        parts = [*node.args, *(k.value for k in node.keywords)] if isinstance(
            node, ast.Call) else node.elts if isinstance(node, (ast.Tuple, ast.List)) else []
        for part in parts:
            if isinstance(part, ast.Call) and part.args:
                part = part.args[0]
            if isinstance(part, ast.Name) and part.id == name and isinstance(part.ctx, ast.Load):
                return True
    return False


class TruncationAsTerminal(Rule):
    """MLX138: `done = terminated or truncated` stored for a `(1 - done)` bootstrap."""

    id = "MLX138"
    anchors = ("trunc",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "trunc" in text and any(m in text for m in MASKS)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for scope in [source.tree, *source.of_type(*FUNCTIONS)]:
            nodes = scope_nodes(source, scope)
            for node in nodes:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                        node.targets[0], ast.Name) and combined(node.value) and passed_on(
                        nodes, node.targets[0].id):
                    yield self.hit(source, node)
