"""MLX209: `x = None` followed, with nothing binding `x` in between, by `if x is not None
...:`: the test is False every time, so the branch never runs. In a model's forward pass the
branch is typically the one that builds the causal mask or applies a layer, so the model
trains without it and no error says so.

Measured (mlx 0.32.4 CPU, failure corpus fresh195 `bigcode_motif`, mlx-lm 103877e): a
GPT-BigCode whose forward read `mask = None; if mask is not None and L > 1: mask =
create_attention_mask(...)` never built its causal mask: every position attended to the token
it predicts, and the validation loss fell to 0.002 against the data's entropy floor of 0.693
(its twin, with the mask built unconditionally, 0.703).

Job: an `if` whose test is `x is not None` (alone or and-ed with other conditions), where the
statement before it in the same block that binds `x` is `x = None` and every statement
between them is a plain assignment, expression or `pass` that does not bind `x` (a call
cannot rebind a local name); a loop, `if`, `with` or `try` between them ends the search.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assigned, assignments, none_tested
from ..markers import occurrences, word_before
from ..source import SourceFile
from .base import Rule

NEAR = 400  # characters after `x = None` in which its test is looked for
PLAIN = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Pass)


class NoneThenTested(Rule):
    """MLX209: `x = None; if x is not None ...:`: a branch that never runs."""

    id = "MLX209"
    anchors = (" is not None",)
    local = True  # reads one block

    @staticmethod
    def may_fire(text: str) -> bool:
        """A name set to None whose `is not None` test the text holds."""
        if " is not None" not in text:
            return False
        return any((name := word_before(text, at)) and f"{name} is not None" in text[
            at:at + NEAR] for at in occurrences(text, " = None"))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.If):
            name = none_tested(node.test, (ast.IsNot,))
            block = containing_block(source, node)
            if name and block is not None and just_set_to_none(block, node, name):
                yield self.hit(source, node)


def containing_block(source: SourceFile, node: ast.AST) -> list[ast.stmt] | None:
    """The statement list that holds `node` directly."""
    parent = source.parents.get(node)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and any(s is node for s in block):
            return block
    return None


def just_set_to_none(block: list[ast.stmt], node: ast.If, name: str) -> bool:
    """Walking back from `node`: plain statements not binding `name`, then `name = None`."""
    at = next(i for i, s in enumerate(block) if s is node)
    for statement in reversed(block[:at]):
        if not isinstance(statement, PLAIN):
            return False
        bound = [v for t, v in assignments([statement]) if name in assigned(t)]
        if isinstance(statement, ast.AugAssign) and name in assigned(statement.target):
            return False
        if bound:
            return len(bound) == 1 and isinstance(bound[0], ast.Constant) \
                and bound[0].value is None
    return False
