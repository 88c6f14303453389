"""MLX044: `model.unfreeze(keys=["head"])` where the key is the name of a child module, not of
a parameter, and no `freeze` in the file was given that key.

Job: read which attribute names the module's own nn.Module classes bind to layers
(`self.head = nn.Linear(...)`) and flag an unfreeze whose `keys` name one of them. A
whole-model `freeze()` marks each module's own parameter names (`weight`, `bias`) frozen,
at every depth; `unfreeze(keys=["head"])` takes "head" out of those marks, where it never
was: nothing is unfrozen, and with `strict=False` (the default) nothing says so (mlx#655).
`freeze(keys=["head"])` itself works (the parent's mark on "head" drops the whole child from
`trainable_parameters()`), and an `unfreeze` of a key a `freeze` was given undoes it.
Measured (mlx 0.32.4 CPU, a module with children `emb` and `l`): `freeze(); unfreeze(keys=
["emb"])` leaves nothing trainable; `freeze(keys=["emb"])` leaves `l.weight, l.bias`;
`freeze(keys=["emb"]); unfreeze(keys=["emb"])` leaves all three (fresh92
`watch_fault_lookahead_tsv` freezes a spec table that way, correctly).

MLX093: a key of `freeze`/`unfreeze` that differs from an attribute the module's own layers
bind only in case (`"lora_a"` where the layer binds `self.lora_A`): keys are matched exactly,
so it matches nothing and the adapters stay frozen. Measured (mlx 0.32.4 CPU, failure corpus
fresh11 `a11_unfreeze_keys_mismatch`, after `model.freeze()`): val loss 0.0418 -> 0.0417 over
600 iterations, only one bias training; with `["lora_A", "lora_B"]` it trains.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import is_mx_array_call, layer_call, module_classes
from ..finding import Finding
from ..flow import assignments, self_attr, walk
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule


def attribute_kinds(source: SourceFile) -> tuple[set[str], set[str]]:
    """(names the module's nn.Module classes bind to layers, names they bind to arrays)."""
    classes = module_classes(source)
    names = {c.name for c in classes}
    layers: set[str] = set()
    arrays: set[str] = set()
    methods = [f for c in classes for f in c.body if isinstance(f, FUNCTIONS)]
    for target, value in assignments(walk(s for f in methods for s in f.body)):
        name = self_attr(target)
        if name and isinstance(value, ast.Call) and layer_call(source, value, names):
            layers.add(name)
        elif name and is_mx_array_call(source, value):
            arrays.add(name)
    return layers, arrays


def keys_given(call: ast.Call) -> list[ast.Constant]:
    """The string constants of a `keys=` argument (a string, or a list or tuple of them)."""
    given = next((k.value for k in call.keywords if k.arg == "keys"), None)
    elements = given.elts if isinstance(given, (ast.List, ast.Tuple)) else [given]
    return [e for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def strict(call: ast.Call) -> bool:
    return any(k.arg == "strict" and not (isinstance(k.value, ast.Constant) and not k.value.value)
               for k in call.keywords)


class KeysNameSubmodule(Rule):
    """MLX044: an unfreeze `keys` entry that is a child module's attribute name, never given
    to a freeze."""

    id = "MLX044"
    anchors = ("freeze(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "freeze(" in text and "keys" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        layers, arrays = attribute_kinds(source)
        frozen = {k.value for call in freezes(source, "freeze") for k in keys_given(call)}
        for call in freezes(source, "unfreeze"):
            if strict(call):
                continue  # strict=True raises on a key that is not a parameter
            if any(k.value in layers and k.value not in arrays | frozen
                   for k in keys_given(call)):
                yield self.hit(source, call)


def freezes(source: SourceFile, method: str) -> Iterator[ast.Call]:
    """The calls `<anything>.freeze(...)` (or `.unfreeze(...)`)."""
    for call in source.of_type(ast.Call):
        if isinstance(call.func, ast.Attribute) and call.func.attr == method:
            yield call


def module_attributes(source: SourceFile) -> set[str]:
    """The attribute names the module's own nn.Module classes bind on `self`."""
    return {a for cls in module_classes(source) for node in descendants(cls)
            if isinstance(node, ast.Assign) for t in node.targets if (a := self_attr(t))}


def key_strings(call: ast.Call) -> list[ast.Constant]:
    """The string keys of `freeze(keys=[...])` / `unfreeze(keys=[...])` (a literal list)."""
    keys = next((k.value for k in call.keywords if k.arg == "keys"), None)
    if keys is None and call.args:
        keys = call.args[0]
    if isinstance(keys, ast.Constant) and isinstance(keys.value, str):
        return [keys]
    elts = keys.elts if isinstance(keys, (ast.List, ast.Tuple)) else []
    return [e for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


class KeysMisspelled(Rule):
    """MLX093: `model.unfreeze(keys=["lora_a"])` where the module's own layer binds
    `self.lora_A`: a key that differs from an attribute only in case matches nothing."""

    id = "MLX093"
    anchors = ("freeze(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "freeze(" in text and "keys" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        attributes = module_attributes(source)
        folded = {a.lower() for a in attributes}
        for call in source.of_type(ast.Call):
            if not (isinstance(call.func, ast.Attribute) and call.func.attr in ("freeze",
                                                                                "unfreeze")):
                continue
            for key in key_strings(call):
                if key.value not in attributes and key.value.lower() in folded:
                    yield self.hit(source, key)
