"""MLX166: a loop over layers that feeds each the same input and keeps only the last output:
`for layer in self.layers: y = layer(x)`, with `x` never rebound in the loop and `y` not read
in it. Every block but the last computes for nothing: the model is one block deep, and the
others get no gradient.

Measured (mlx 0.32.4 CPU, failure corpus fresh57 `llama_block_stack`, mlx-playground
f1e738e): a 4-block Llama-style model whose forward assigned `y = encoding_layer(x, mask)`
trained only its last block (the others never changed: `no_update:part`); `x = ...` trains
all four.

Job: a `for` loop whose target is called in its body, `y = target(x, ...)`, where `x` is a
plain name that the loop body never binds and `y` (another name) is not read anywhere in the
loop body. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, bound
from ..source import SourceFile
from .base import Rule

LOOP_HEAD = re.compile(r"for (\w+) in [^\n]*\n")


def dropped(source: SourceFile, loop: ast.For) -> ast.Assign | None:
    """The assignment that drops each layer's output, or None."""
    if not isinstance(loop.target, ast.Name):
        return None
    nodes = body_nodes(source, loop)
    binds = set().union(*(bound(n) for n in nodes if isinstance(n, ast.stmt)))
    reads = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    for node in nodes:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call)):
            continue
        call, out = node.value, node.targets[0].id
        given = call.args[0] if call.args else None
        if isinstance(call.func, ast.Name) and call.func.id == loop.target.id \
                and isinstance(given, ast.Name) and given.id != out \
                and given.id not in binds and out not in reads:
            return node
    return None


class LayerLoopDropsOutput(Rule):
    """MLX166: `for layer in layers: y = layer(x)`: each layer gets the same input."""

    id = "MLX166"
    anchors = ("for ",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """Within a few lines after a `for name in ...:` head, `y = name(x` with y not x (a
        text test by `str.find`: `for layer in self.layers: x = layer(x)` is in most model
        files, and a regex with no literal head tries every position)."""
        at = text.find("for ")
        while at >= 0:
            head = LOOP_HEAD.match(text, at)
            after = text[head.end():head.end() + 400] if head is not None else ""
            if head is not None and f"= {head.group(1)}(" in after and any(
                    call.group(1) != call.group(2) for call in re.finditer(
                        rf"(\w+) = {head.group(1)}\((\w+)", after)):
                return True
            at = text.find("for ", at + 4)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for loop in source.of_type(ast.For):
            found = dropped(source, loop)
            if found is not None:
                yield self.hit(source, found)
