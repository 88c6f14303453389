"""MLX279: a bias correction `1 - beta ** t` whose step count `t` is set to 0 and never
written again (`state["step"] = 0` in `init_single`, no `state["step"] += 1` anywhere): the
correction is 0 at every step and the moments divided by it are inf or NaN.

Measured (mlx 0.32.4 CPU, failure corpus fresh359 `quillpond_lattice_reasoner`,
dewdsp/hrm-mlx eda963d, which added `state["step"] += 1`): a hand-written AdamATan2 read
`step = state["step"]` and divided `m` and `v` by `1 - beta ** step`: loss 3.4604 at step 1,
NaN from step 2 on, every parameter group non-finite by the second look; with the
increment it trained.

Job: a count, `x["key"]` or `self.attr`, assigned the constant 0 and never assigned anything
else in the module (no `+=`, no other value), read (directly or through a local name bound
to it) as the exponent in `1 - base ** count`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import name_values
from ..source import SourceFile
from .base import Rule


def count_key(node: ast.AST) -> str | None:
    """`["step"]` of `state["step"]`, `.step` of `self.step`: where a count is kept."""
    if isinstance(node, ast.Subscript) and type(node.slice) is ast.Constant and isinstance(
            node.slice.value, str):
        return f"[{node.slice.value!r}]"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
            node.value.id == "self":
        return f".{node.attr}"
    return None


def written(source: SourceFile) -> dict[str, set[bool]]:
    """Each count key -> whether each of its writes is the constant 0."""
    def make() -> dict[str, set[bool]]:
        found: dict[str, set[bool]] = {}
        for node in source.of_type(ast.Assign, ast.AugAssign, ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            zero = not isinstance(node, ast.AugAssign) and type(node.value) is ast.Constant \
                and node.value.value == 0 and not isinstance(node.value.value, bool)
            for target in targets:
                for part in ast.walk(target):
                    key = count_key(part)
                    if key is not None:
                        found.setdefault(key, set()).add(zero and part is target)
        return found
    return source.cached("frozen_count_writes", source.tree, make)


def exponent_key(source: SourceFile, node: ast.AST) -> str | None:
    """The count key an exponent reads: directly, or through a local name bound once."""
    key = count_key(node)
    if key is None and isinstance(node, ast.Name):
        values = name_values(source, node.id, source.enclosing(node))
        key = count_key(values[0]) if len(values) == 1 else None
    return key


def corrections(source: SourceFile) -> Iterator[tuple[ast.BinOp, ast.AST]]:
    """(`1 - base ** e`, e) in the module."""
    for node in source.of_type(ast.BinOp):
        right = node.right  # type: ignore[attr-defined]
        if isinstance(node.op, ast.Sub) and type(node.left) is ast.Constant and \
                node.left.value == 1 and isinstance(right, ast.BinOp) and \
                isinstance(right.op, ast.Pow):
            yield node, right.right  # type: ignore[misc]


class CountNeverAdvanced(Rule):
    """MLX279: `1 - beta ** state["step"]` with `state["step"]` only ever set to 0."""

    id = "MLX279"
    anchors = ("**",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "**" in text and "1 -" in text and "= 0" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        writes = written(source)
        seen: set[tuple[ast.AST | None, str]] = set()
        for node, exponent in sorted(corrections(source), key=lambda p: p[0].lineno):
            key = exponent_key(source, exponent)
            place = (source.enclosing(node), key or "")
            if key is not None and writes.get(key) == {True} and place not in seen:
                seen.add(place)  # one finding per count and function
                yield self.hit(source, node)
