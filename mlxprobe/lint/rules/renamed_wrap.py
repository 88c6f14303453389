"""MLX129: a layer wrapped from one attribute and stored under another that nothing reads
(`e.gate_proj = LoRALinear.from_linear(e.w1)` while the forward calls `self.w1(x)`): the
wrapper is a registered child, its parameters count as trainable, but no code calls it.

Job: find an assignment `obj.new = <a wrapping constructor>(obj.old, ...)` (a call whose
name holds `from_linear` or `lora`) with `new != old`, where the module never reads `.new`
(no load of that attribute anywhere in it). Measured (mlx 0.32.4 CPU, failure corpus fresh29
`moe_expert_lora_names`, mzbac/mlx-lora): 24 trainable adapter leaves, every gradient exactly
0, validation loss 1.901 at all 12 reports; wrapped in place (`e.w1 = ...from_linear(e.w1)`)
the loss fell 1.42 -> 0.55.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

ASSIGNS_WRAP = re.compile(r"^[ \t]*[\w.\[\]]+\.\w+[ \t]*=[ \t]*[\w.]*"
                          r"(?:from_linear|[Ll][Oo][Rr][Aa]\w*)\(", re.MULTILINE)


class WrapUnderNewName(Rule):
    """MLX129: `e.gate_proj = LoRALinear.from_linear(e.w1)` with `.gate_proj` never read."""

    id = "MLX129"

    @staticmethod
    def may_fire(text: str) -> bool:
        """A line that assigns a wrapping call to an attribute (`e.x = LoRALinear...(`):
        only such files are parsed whole for this rule (it reads every attribute load)."""
        return ("from_linear" in text or "lora" in text.lower()) and bool(
            ASSIGNS_WRAP.search(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        read = {n.attr for n in source.of_type(ast.Attribute) if isinstance(n.ctx, ast.Load)}
        for node in source.of_type(ast.Assign):
            new = _renamed(node)
            if new is not None and new not in read:
                yield self.hit(source, node)


def _renamed(node: ast.Assign) -> str | None:
    """`new` of `obj.new = Wrap(obj.old, ...)` (a wrapping constructor, `new != old`)."""
    target, value = node.targets[0], node.value
    if len(node.targets) != 1 or not isinstance(target, ast.Attribute) \
            or not isinstance(value, ast.Call) or not value.args:
        return None
    name = ast.unparse(value.func).lower()
    wrapped = value.args[0]
    if ("from_linear" not in name and "lora" not in name) or not isinstance(
            wrapped, ast.Attribute) or wrapped.attr == target.attr:
        return None
    same = ast.unparse(wrapped.value) == ast.unparse(target.value)
    return target.attr if same else None
