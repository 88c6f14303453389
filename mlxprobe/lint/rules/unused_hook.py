"""MLX254: a function handed to a constructor (`formatting_func`, `collate_fn`, `transform`,
`callback`), stored on `self` and never read anywhere in the module: the step it was passed
for never runs, and the class goes on with what it would have changed (raw rows where
formatted ones were meant, untransformed inputs), silently or with an error far from the cause.

Measured (mlx 0.32.4 CPU, failure corpus fresh258 `quillwort_pairs_orpo`, unsloth-zoo
61c5829): a preference trainer kept the user's `formatting_func` and never passed it to the
batch builder, which read the raw rows and raised "ORPO requires 'prompt', 'chosen',
'rejected' columns" before the first step; applying it, the run trained. Over every kept corpus
script and mlx-lm, mlx-lm-lora and mlx-vlm: no other module stores a function it never reads.

Job: in each class's `__init__`, `self.<name> = <parameter>` where a word of `<name>` (split at
`_`) names a function (func, fn, function, callback(s), transform, collate, hook), and
`.<name>` is never read in the module (nor named in a string: `getattr(self, "name")`).
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import self_attr
from ..source import SourceFile
from .base import Rule

WORDS = frozenset({"func", "fn", "function", "callback", "callbacks", "transform", "collate",
                   "hook"})


def names_a_function(name: str) -> bool:
    return not WORDS.isdisjoint(name.lower().split("_"))


def stored_arguments(init: ast.FunctionDef) -> Iterator[tuple[ast.Assign, str]]:
    """`self.x = x`-style stores in `__init__` of one of its own parameters."""
    params = {a.arg for a in (*init.args.args[1:], *init.args.kwonlyargs)}
    for node in ast.walk(init):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and \
                    target.value.id == "self" and isinstance(node.value, ast.Name) and \
                    node.value.id in params:
                yield node, target.attr


def stored_hooks(source: SourceFile) -> bool:
    """Somewhere the module stores a name on `self` whose name names a function, from a plain
    name (`self.collate_fn = collate_fn`)."""
    return any(len(a.targets) == 1 and isinstance(a.value, ast.Name)
               and (name := self_attr(a.targets[0])) and names_a_function(name)
               for a in source.of_type(ast.Assign))


class UnusedHook(Rule):
    """MLX254: `self.formatting_func = formatting_func`, never read."""

    id = "MLX254"
    anchors = ("__init__",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "__init__" in text and any(word in text for word in WORDS)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not stored_hooks(source):  # most modules store no function-named name: no walk
            return
        read = {n.attr for n in source.of_type(ast.Attribute) if isinstance(n.ctx, ast.Load)}
        named = {n.value for n in source.of_type(ast.Constant) if isinstance(n.value, str)}
        for cls in source.of_type(ast.ClassDef):
            for init in cls.body:
                if isinstance(init, ast.FunctionDef) and init.name == "__init__":
                    for node, name in stored_arguments(init):
                        if names_a_function(name) and name not in read and name not in named:
                            yield self.hit(source, node)
