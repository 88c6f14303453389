"""MLX121: flat keys (`layers.0.weight`, as `tree_flatten`, `mx.save_safetensors` and
`mx.savez` write them) nested back by hand into dicts: a loop over `key.split(".")` that makes
a `{}` at each part. MLX's flat keys spell a list's items as numbers, and a dict with keys
'0', '1' is no list: handed back to MLX (`optimizer.state = ...`, `model.update(...)`) the
tree no longer matches the model's, and the first update raises or the layers are missed.

Measured (mlx 0.32.4 CPU): an Adam state of a model with a list of two layers, flattened with
`tree_flatten` and rebuilt this way, made the next `optimizer.update` raise `TypeError: 'str'
object does not support item assignment` inside `mlx.optimizers` (tests/test_crash_causes.py);
`tree_unflatten(list(flat.items()))` rebuilds the lists. Failure corpus fresh24
`resume_optstate_string_keys_c24` (a resumed GPT run crashed at its first step after the
resume; the upstream fix switched to an unflatten that turns numeric keys into lists).

Job: find such loops in a module that uses MLX's flat keys (`tree_flatten`, `mx.load`,
`load_weights`, `save_safetensors`, `savez`).
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import walk
from ..source import SourceFile
from .base import Rule

FLAT = ("tree_flatten", "mx.load(", "load_weights(", "save_safetensors", "savez")


def dotted_split(node: ast.AST) -> bool:
    """`key.split(".")`, also sliced (`key.split(".")[:-1]`)."""
    if isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        node.func.attr == "split" and len(node.args) >= 1 and isinstance(
            node.args[0], ast.Constant) and node.args[0].value == "."


def split_names(scope: list[ast.stmt]) -> set[str]:
    """Names bound to such a split: `parts = key.split(".")`."""
    return {t.id for n in walk(scope) if isinstance(n, ast.Assign) and dotted_split(n.value)
            for t in n.targets if isinstance(t, ast.Name)}


def over_parts(loop: ast.For, parts: set[str]) -> bool:
    it = loop.iter.value if isinstance(loop.iter, ast.Subscript) else loop.iter
    return dotted_split(loop.iter) or (isinstance(it, ast.Name) and it.id in parts)


def nests(loop: ast.For) -> bool:
    """The body makes an empty dict per part: `d[part] = {}`, `d.setdefault(part, {})`."""
    for node in walk(loop.body):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and \
                not node.value.keys and any(isinstance(t, ast.Subscript) for t in node.targets):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "setdefault" and len(node.args) == 2 and isinstance(
                    node.args[1], ast.Dict) and not node.args[1].keys:
            return True
    return False


class KeysNestedByHand(Rule):
    """MLX121: `for part in key.split("."): d = d.setdefault(part, {})`: lists become dicts."""

    id = "MLX121"
    anchors = ('split(".")',)
    local = True  # reads one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return 'split(".")' in text and "{}" in text and any(w in text for w in FLAT)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        return lambda block: 'split(".")' in block and "{}" in block

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(ast.FunctionDef, ast.AsyncFunctionDef, ast.Module):
            parts = split_names(function.body)
            for loop in walk(function.body):
                if isinstance(loop, ast.For) and over_parts(loop, parts) and nests(loop):
                    yield self.hit(source, loop)
