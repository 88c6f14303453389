"""MLX276: a checkpoint written from one module class loaded with `strict=False` into a
model of another class that holds the first under an attribute (`self.model = Bert(...)`):
the file's names (`embeddings.norm.weight`) lack the attribute's prefix the model's
parameters have (`model.embeddings.norm.weight`), so none of them matches, `strict=False`
skips them all without a word, and the model trains from its random init.

Measured (mlx 0.32.4 CPU, failure corpus fresh350 `gazetteer_span_warmstart`, plpxsk/bert-qa
3c39fa0): an encoder's weights saved with `mx.savez(path, **dict(tree_flatten(
model.bert.parameters())))` and loaded with `BertQA(...).load_weights(path, strict=False)`,
whose encoder is `self.model`: the watched load matched 0 of 33 names, test exact match 0.148;
`self.model.load_weights(path, strict=strict)` (the fix) matched 31 of 33, exact match 0.984.

Job: the module's own nn.Module classes, the classes of what the program saves
(`X.save_weights(...)`, or `tree_flatten(X.parameters())` in a function that calls a save:
`mx.savez`, `mx.save_safetensors`, `np.savez`), and each `R.load_weights(..., strict=False)`
whose receiver's class is known: it fires when that class holds a saved class under an
attribute and is itself never saved. A receiver's class is read from `R = C(...)` in its
function, `self` in a method of C, or an attribute of either (`model.bert`, `self.model`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import assignments, body_nodes, calls, name_values
from ..names import last_name
from ..source import SourceFile, descendants
from .base import AnchoredRule

SAVES = frozenset({"savez", "savez_compressed", "save_safetensors", "save_gguf"})
READS = frozenset({"parameters", "trainable_parameters"})


def children(source: SourceFile) -> dict[str, dict[str, str]]:
    """For each module class of the file: its attributes bound to another of them
    (`self.model = Bert(config)` gives {"BertQA": {"model": "Bert"}})."""
    classes = {c.name for c in module_classes(source)}
    found: dict[str, dict[str, str]] = {}
    for cls in module_classes(source):
        for target, value in assignments(descendants(cls)):
            if type(target) is ast.Attribute and type(value) is ast.Call and (
                    name := last_name(value.func)) in classes:
                found.setdefault(cls.name, {})[target.attr] = name
    return found


def class_of(source: SourceFile, node: ast.AST, kids: dict[str, dict[str, str]]) -> str | None:
    """The file's module class of `node`: a name bound to `C(...)` in its function, `self`
    in a method of C, or an attribute of one of those that C binds to another class."""
    if type(node) is ast.Attribute:
        owner = class_of(source, node.value, kids)
        return kids.get(owner or "", {}).get(node.attr)
    if type(node) is not ast.Name:
        return None
    known = kids.keys() | {c for inner in kids.values() for c in inner.values()}
    if node.id == "self":
        cls = source.enclosing(node, (ast.ClassDef,))
        return cls.name if cls is not None and cls.name in known else None
    made = {last_name(v.func) for v in name_values(source, node.id, source.enclosing(node))
            if type(v) is ast.Call}
    return next(iter(made)) if len(made) == 1 and made <= known else None


def saved_classes(source: SourceFile, kids: dict[str, dict[str, str]]) -> set[str]:
    """The classes whose weights the program writes to a file."""
    found: set[str] = set()
    for call in source.of_type(ast.Call):
        func = call.func
        if type(func) is ast.Attribute and func.attr == "save_weights":
            found.add(class_of(source, func.value, kids) or "")
        elif type(func) is ast.Attribute and func.attr in READS and _in_saving(source, call):
            found.add(class_of(source, func.value, kids) or "")
    return found - {""}


def _in_saving(source: SourceFile, call: ast.AST) -> bool:
    """The call is in a function (or the top level) that writes arrays to a file."""
    scope = source.enclosing(call) or source.tree
    return any(last_name(c.func) in SAVES for c in calls(body_nodes(source, scope)))


def non_strict_loads(source: SourceFile) -> Iterator[ast.Call]:
    for call in source.of_type(ast.Call):
        if type(call.func) is ast.Attribute and call.func.attr == "load_weights" and any(
                k.arg == "strict" and type(k.value) is ast.Constant and k.value.value is False
                for k in call.keywords):
            yield call


class SubmoduleCheckpointLoaded(AnchoredRule):
    """MLX276: a sub-module's checkpoint loaded with `strict=False` into a model that holds
    that sub-module under an attribute: no name matches, nothing is loaded."""

    id = "MLX276"
    anchors = ("strict=False",)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        kids = children(source)
        saved = saved_classes(source, kids) if kids else set()
        for call in non_strict_loads(source) if saved else ():
            into = class_of(source, call.func.value, kids)  # type: ignore[attr-defined]
            if into and into not in saved and saved & set(kids.get(into, {}).values()):
                yield self.hit(source, call)
