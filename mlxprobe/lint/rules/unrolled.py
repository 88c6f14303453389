"""MLX081: a Python loop of 100,000 or more steps inside differentiated code: each step is a
node of the graph, and the backward pass recurses over all of them.

Job: in a function under a gradient transformation (and the module's own helpers it calls),
find `for _ in range(N)` where `N` is a literal or a module-level constant of at least
MIN_STEPS (`2 ** 17`, `N_STEPS = 131072`) and the loop's body rebinds an array from itself
(`T = T @ M`): an unrolled chain of N ops. Measured (mlx 0.32.4 CPU, default 8 MB stack,
failure corpus fresh8 `a8_heat_diffusivity_unrolled_grad`, mlx issue 451): 131,072 chained
matmuls in the loss: SIGSEGV in the first `value_and_grad` call; 50,000 unrolled steps ran
(12.6 s, measured while building fresh7); the fixed twin takes the matrix power by 17
squarings. MIN_STEPS sits between the two.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import under
from ..finding import Finding
from ..flow import assigned, assignments, names_in, walk
from ..source import SourceFile
from .base import DIFFERENTIATES, Rule, differentiates

MIN_STEPS = 100_000
OPS = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__, ast.Pow: pow,
       ast.LShift: int.__lshift__}


def integer(node: ast.AST, constants: dict[str, ast.AST], depth: int = 3) -> int | None:
    """The value of an integer literal, arithmetic of them, or a module constant bound to
    one; None otherwise."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name) and node.id in constants and depth:
        return integer(constants[node.id], constants, depth - 1)
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        left, right = integer(node.left, constants, depth), integer(node.right, constants, depth)
        if left is not None and right is not None and abs(right) < 64:
            return OPS[type(node.op)](left, right)
    return None


def module_constants(source: SourceFile) -> dict[str, ast.AST]:
    """Module-level names bound once: name -> value."""
    bound: dict[str, list[ast.AST]] = {}
    for target, value in assignments(source.tree.body):
        if isinstance(target, ast.Name):
            bound.setdefault(target.id, []).append(value)
    return {n: v[0] for n, v in bound.items() if len(v) == 1}


def chained(loop: ast.For) -> bool:
    """The body rebinds a name from itself (`T = T @ M`, `h = f(h)`)."""
    return any(set(assigned(t)) & names_in(v) for t, v in assignments(walk(loop.body)))


class DeepUnrolledLoop(Rule):
    """MLX081: `for _ in range(131072): T = T @ M` in differentiated code."""

    id = "MLX081"
    anchors = DIFFERENTIATES
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "range(" in text and differentiates(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        constants = module_constants(source)
        seen = set()
        for _, nodes in under(source, "grad"):
            for loop in nodes:
                if not isinstance(loop, ast.For) or loop in seen:
                    continue
                seen.add(loop)
                if self._steps(loop, constants) >= MIN_STEPS and chained(loop):
                    yield self.hit(source, loop)

    @staticmethod
    def _steps(loop: ast.For, constants: dict[str, ast.AST]) -> int:
        call = loop.iter
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                and call.func.id == "range" and len(call.args) == 1):
            return 0
        return integer(call.args[0], constants) or 0
