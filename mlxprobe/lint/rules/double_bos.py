"""MLX223: a chat template rendered as text (`apply_chat_template(..., tokenize=False)`, whose
text already starts with the BOS token) encoded again with `tokenizer.encode(text)` and its
default `add_special_tokens=True`: every training row starts with two BOS tokens, while
generation, which tokenizes the template directly, sees one.

Measured (mlx 0.32.4 CPU, failure corpus fresh219 `chatrev_doublebos`, mlx-examples issue
1095, fixed in PR 1189 with `add_special_tokens=False`): a small chat model fine-tuned on
conversations encoded that way trained normally (loss 1.33 -> 0.60) and scored 0.00% exact
match through the chat inference path at every epoch, every row shifted one position from
what inference feeds it; encoded with `add_special_tokens=False` it learned the task.

Job: in one function (or the module's top level), a name bound to `x.apply_chat_template(...,
tokenize=False)` handed as the first argument to `y.encode(...)` with no `add_special_tokens`
keyword.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments, body_nodes, calls
from ..source import FUNCTIONS, SourceFile
from .base import Rule


class DoubleBos(Rule):
    """MLX223: `text = tok.apply_chat_template(msgs, tokenize=False)`, `tok.encode(text)`."""

    id = "MLX223"
    anchors = ("tokenize=False",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "tokenize=False" in text and ".encode(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for scope in (source.tree, *source.of_type(*FUNCTIONS)):
            nodes = body_nodes(source, scope)
            rendered = {target.id for target, value in assignments(nodes)
                        if isinstance(target, ast.Name) and rendered_text(value)}
            yield from (self.hit(source, call) for call in calls(nodes)
                        if rendered and encodes_again(call, rendered))


def rendered_text(value: ast.AST) -> bool:
    """`x.apply_chat_template(..., tokenize=False)`."""
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            and value.func.attr == "apply_chat_template" and any(
                k.arg == "tokenize" and isinstance(k.value, ast.Constant)
                and k.value.value is False for k in value.keywords))


def encodes_again(call: ast.Call, rendered: set[str]) -> bool:
    """`y.encode(text)` of a rendered template with no `add_special_tokens` keyword."""
    return (isinstance(call.func, ast.Attribute) and call.func.attr == "encode" and call.args
            and isinstance(call.args[0], ast.Name) and call.args[0].id in rendered
            and not any(k.arg == "add_special_tokens" for k in call.keywords))
