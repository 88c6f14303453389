"""MLX145: the keys of `model.parameters().items()` (or `.keys()`, or of
`trainable_parameters()`) tested as dotted paths (`name.endswith(".weight")`,
`name.split(".")`, `"." in name`). A module's parameter tree is nested: its top-level keys
are its attribute names (`embed`, `layers`, `head`), never `layers.0.attn.weight`, so a test
for a dot never holds and whatever it selects (LoRA targets, layers to freeze, weights to
decay) is empty. `tree_flatten(model.parameters())` gives the dotted paths.

Measured (mlx 0.32.4 CPU, failure corpus fresh42 `lora_targets_nested_items`, from
ModelCypher's fix commit): the LoRA target resolver walked `model.parameters().items()`
for names ending in `.weight`, found none, injected 0 adapters, froze the base model, and
`value_and_grad` raised `ValueError: [grad] Must specify at least one argument.` at the first
step; walking `tree_flatten(model.parameters())` it injected 4 adapters and the loss fell.

Job: a `for` loop or comprehension over `X.parameters().items()` / `.keys()` (or
`trainable_parameters()`, `children()` is not a tree of arrays and is left alone) whose key,
in the loop, is tested or split with a string holding a dot: `.endswith`, `.startswith`,
`.split`, `.rsplit`, `.count`, `.find` with such a string, or `"." in key`.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile, descendants
from .base import Rule

TREES = frozenset({"parameters", "trainable_parameters"})
VIEWS = frozenset({"items", "keys"})
STRING_TESTS = frozenset({"endswith", "startswith", "split", "rsplit", "count", "find"})


def tree_view(node: ast.AST) -> bool:
    """`X.parameters().items()` or `.keys()` (or of `trainable_parameters()`)."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in VIEWS and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Attribute)
            and node.func.value.func.attr in TREES)


def key_name(target: ast.AST) -> str | None:
    """The loop's key variable: `name` of `for name, value in ...` or `for name in ...`."""
    if isinstance(target, ast.Tuple) and target.elts:
        target = target.elts[0]
    return target.id if isinstance(target, ast.Name) else None


def dotted(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value


def tests_dot(node: ast.AST, key: str) -> bool:
    """`key.endswith(".weight")`-like, or `"." in key`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        owner = node.func.value
        return (node.func.attr in STRING_TESTS and isinstance(owner, ast.Name)
                and owner.id == key and any(dotted(a) for a in node.args))
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        right = node.comparators[0]
        return (isinstance(node.ops[0], ast.In) and dotted(node.left)
                and isinstance(right, ast.Name) and right.id == key)
    return False


class DottedKeysOfNestedTree(Rule):
    """MLX145: `for name, _ in model.parameters().items(): if name.endswith(".weight")`."""

    id = "MLX145"
    anchors = ("parameters().",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "parameters().items()" in text or "parameters().keys()" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for loop in source.of_type(ast.For, ast.comprehension):
            key = key_name(loop.target) if tree_view(loop.iter) else None
            if key is None:
                continue
            scope = source.parents.get(loop) if isinstance(loop, ast.comprehension) else loop
            if any(tests_dot(n, key) for n in descendants(scope)):
                yield self.hit(source, loop.iter)
