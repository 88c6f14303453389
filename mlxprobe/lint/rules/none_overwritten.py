"""MLX208: a loop that picks a value per iteration under `X is None` and assigns it to X
itself: `for i, layer in enumerate(layers): if mask is None and is_sliding: mask = full_mask
/ elif mask is None: mask = sliding_mask`. After the first iteration X is no longer None, so
every later iteration reuses the first one's choice: every layer gets layer 0's mask.

Measured (mlx 0.32.4 CPU, failure corpus fresh193 `gemlet_window_recall`, mlx-vlm d7322b9
"fix sliding mask"): a Gemma-style LM whose global layers should see the whole sequence got
layer 0's sliding-window mask in every layer and could not recall the first token: the loss
stayed at chance; with a per-layer `local_mask = mask` chosen from, it learned the recall.

Job: an `if` inside a loop whose test is `X is None` (alone or and-ed with other conditions)
followed by an `elif` that tests `X is None` too, both branches assigning the plain name X,
where nothing else in the loop binds X (a binding at each iteration resets it): a choice
between values, made once. A lone `if cache is None: cache = build()` is a lazy
initialisation, and `if first is None and found: first = step` a latch on the first
occurrence (mlx-vlm's llada2_moe `eos_block_index`): both meant to run once, left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assigned, assignments, body_nodes, none_tested
from ..source import LOOPS, SourceFile
from .base import Rule


class NoneTestOverwritten(Rule):
    """MLX208: a per-iteration choice under `X is None` written into X itself."""

    id = "MLX208"
    anchors = (" is None",)
    local = True  # reads one function's loop

    @staticmethod
    def may_fire(text: str) -> bool:
        at = text.find("elif ")
        while at != -1:
            test = text[at + 5:at + 100].split(":")[0]
            name = test.split(" is None")[0].split()[-1:] if " is None" in test else []
            if name and f"if {name[0]} is None" in text:
                return True
            at = text.find("elif ", at + 5)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for loop in source.of_type(*LOOPS):
            nodes = body_nodes(source, loop)
            for node in nodes:
                name = chosen_name(node)
                if name and not bound_elsewhere(nodes, node, name):
                    yield self.hit(source, node)


def chosen_name(node: ast.AST) -> str | None:
    """X when `node` is an `if` testing `X is None` (alone or and-ed) whose `elif` tests it
    too, each branch assigning X."""
    if not isinstance(node, ast.If):
        return None
    name = none_tested(node.test, (ast.Is,))
    if name is None or not any(name in assigned(t) for t, _ in assignments(node.body)):
        return None
    chain = node.orelse[0] if len(node.orelse) == 1 and isinstance(node.orelse[0], ast.If) \
        else None
    return name if chain is not None and none_tested(chain.test, (ast.Is,)) == name and any(
        name in assigned(t) for t, _ in assignments(chain.body)) else None


def bound_elsewhere(nodes: list[ast.AST], chooser: ast.If, name: str) -> bool:
    """The loop binds `name` outside the chooser's if/elif chain (a reset each iteration)."""
    inside = {id(n) for n in ast.walk(chooser)}
    return any(name in assigned(t) for n in nodes if id(n) not in inside
               for t, _ in assignments([n]))
