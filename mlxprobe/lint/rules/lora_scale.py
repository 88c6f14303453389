"""MLX103: a low-rank adapter scales its update by alpha where it means alpha / rank. A module
that is given both an alpha (`self.alpha`, `lora_alpha`, or `self.scale = alpha`) and a
rank (`rank`, `r`, `lora_rank`) and whose forward multiplies by alpha, reads no rank, and
computes a matrix product (the low-rank update): LoRA's scale is alpha / rank by
definition, so the update is rank times too large (mlx-vlm issue 845: rank 8, alpha 16, the
adapter's update 8x; failure corpus fresh16 `lora_scale_raw_alpha`: loss 2.97 -> 69 in 7
steps, then stuck at ln 10; fresh5 `lora_scale_alpha_raw`: `self.scale = alpha`).

Job: read each nn.Module class's `__init__` for the two attributes and its `__call__` for how
they are used. A scale computed once in `__init__` (`self.scale = alpha / rank`) is read in
the forward as `self.scale`, never as alpha, and is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import arguments, self_attr
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

ALPHA = re.compile(r"self\.\w*alpha\w*\s*=|self\.\w+\s*=\s*\w*alpha\w*\s*$", re.MULTILINE)
RANK = re.compile(r"\b(?:\w*rank|r)\b")


def bound(function: ast.AST) -> set[str]:
    """The `self.<name>` attributes a method assigns."""
    return {name for n in descendants(function) if isinstance(n, ast.Assign) for t in n.targets
            if (name := self_attr(t))}


def given_alpha(init: ast.AST) -> set[str]:
    """Attributes bound to an alpha argument as it is (`self.scale = alpha`)."""
    return {name for n in descendants(init) if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Name) and "alpha" in n.value.id for t in n.targets
            if (name := self_attr(t))}


def read(function: ast.AST) -> set[str]:
    """The `self.<name>` attributes a method reads."""
    return {name for n in descendants(function) if isinstance(n, ast.Attribute)
            and isinstance(n.ctx, ast.Load) and (name := self_attr(n))}


def multiplied(function: ast.AST, attribute: str) -> ast.AST | None:
    """The `self.<attribute> * ...` (or `... * self.<attribute>`) in the method, if any."""
    for node in descendants(function):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and attribute in (
                self_attr(node.left), self_attr(node.right)):
            return node
    return None


def low_rank(function: ast.AST) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult)
               or isinstance(n, ast.Call) and getattr(n.func, "attr", "") in ("matmul", "addmm")
               for n in descendants(function))


class AlphaWithoutRank(Rule):
    """MLX103: an adapter's forward scales by alpha and never reads the rank it keeps."""

    id = "MLX103"
    anchors = ("alpha",)
    local = True  # reads one class

    @staticmethod
    def may_fire(text: str) -> bool:
        return ALPHA.search(text) is not None and RANK.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            methods = {f.name: f for f in cls.body if isinstance(f, FUNCTIONS)}
            if "__init__" in methods and "__call__" in methods:
                yield from self._scaled(source, methods["__init__"], methods["__call__"])

    def _scaled(self, source: SourceFile, init: ast.AST, call: ast.AST) -> Iterator[Finding]:
        kept = bound(init)
        alphas = {a for a in kept if "alpha" in a} | given_alpha(init)
        ranks = {a for a in kept | arguments(init) if a == "r" or a.endswith("rank")}
        used = read(call)
        if not ranks or used & ranks or not low_rank(call):
            return
        for alpha in alphas:
            site = multiplied(call, alpha)
            if site is not None:
                yield self.hit(source, site)
