"""Rules about names a program matches that are not there: MLX057 (`type(x) is C` where the
module derives a class from C: its instances never match) and MLX058 (a list of module names
that a walk over the model's modules tests against, none of which is a layer attribute of the
module's own model classes: LoRA or freezing by name reaches nothing).

Job: compare the names a test looks for with the names the module defines.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import layer_attributes, module_instances
from ..finding import Finding
from ..flow import assignments, calls
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

WALKS = frozenset({"named_modules", "children", "leaf_modules", "modules"})
# `type(x) is C` as written (one space each side): a literal-led pattern, ~15x cheaper over
# the three packages than one allowing any spacing (0.014 s against 0.2 s)
TYPE_TEST = re.compile(r"type\([\w.\[\]]+\) (?:is|==) ([\w.]+)")


def class_key(source: SourceFile, node: ast.AST) -> str:
    """A class as named here, imports resolved: `nn.Linear` -> `mlx.nn.Linear`, `Base`."""
    return source.imports.resolve(node) or ast.unparse(node)


class TypeIdentityWithSubclass(Rule):
    """MLX057: `type(x) is C` (or `==`) where this module defines a subclass of C: an
    instance of the subclass fails the test (`isinstance(x, C)` is the test that holds)."""

    id = "MLX057"
    anchors = ("type(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `type(x) is C` test, and a class of the text with a base named like C (the
        same last name part: `nn.Linear` and `Linear`; a base imported under another
        name is not seen)."""
        if "type(" not in text or "class " not in text:
            return False
        compared = {c.rsplit(".", 1)[-1] for c in TYPE_TEST.findall(text)}
        return any(re.search(rf"^\s*class \w+\([^)]*\b{re.escape(c)}\b", text, re.MULTILINE)
                   for c in compared)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        derived = {class_key(source, b) for c in source.of_type(ast.ClassDef) for b in c.bases
                   if isinstance(b, (ast.Name, ast.Attribute))}
        if not derived:
            return
        for compare in source.of_type(ast.Compare):
            if (len(compare.ops) == 1 and isinstance(compare.ops[0], (ast.Is, ast.Eq))
                    and self._type_call(compare.left)
                    and isinstance(compare.comparators[0], (ast.Name, ast.Attribute))
                    and class_key(source, compare.comparators[0]) in derived):
                yield self.hit(source, compare)

    @staticmethod
    def _type_call(node: ast.AST) -> bool:
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "type" and len(node.args) == 1)


class TargetsMatchNoLayer(Rule):
    """MLX058: a function that walks a model's modules (`named_modules()`, `children()`)
    tests names against a module-level list of strings, passed to it with an instance of the
    module's own model class, and no string is (part of) a layer attribute those classes
    define."""

    id = "MLX058"
    anchors = ("named_modules(", "children(")

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("named_modules(" in text or "children(" in text) and "class " in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        lists = self._string_lists(source)
        layers = layer_attributes(source)
        walkers = {f.name: f for f in source.of_type(*FUNCTIONS)
                   if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and self._walks(f)}
        if not (lists and layers and walkers):
            return
        instances = module_instances(source)
        for call in source.of_type(ast.Call):
            if not (isinstance(call.func, ast.Name) and call.func.id in walkers):
                continue
            args = [a.id for a in call.args if isinstance(a, ast.Name)]
            if instances & set(args) and any(
                    a in lists and not self._matches(lists[a], layers) for a in args):
                yield self.hit(source, call)

    @staticmethod
    def _walks(function: ast.AST) -> bool:
        return any(isinstance(c.func, ast.Attribute) and c.func.attr in WALKS
                   for c in calls(descendants(function)))

    @staticmethod
    def _string_lists(source: SourceFile) -> dict[str, list[str]]:
        """Module-level `NAME = ["q_proj", ...]` (a list, tuple or set of strings)."""
        found = {}
        for target, value in assignments(source.tree.body):
            if isinstance(target, ast.Name) and isinstance(value, (ast.List, ast.Tuple, ast.Set)):
                texts = [e.value for e in value.elts if isinstance(e, ast.Constant)]
                if texts and all(isinstance(t, str) for t in texts) and len(texts) == len(
                        value.elts):
                    found[target.id] = texts
        return found

    @staticmethod
    def _matches(targets: list[str], layers: set[str]) -> bool:
        return any(t == a or t in a or a.endswith(t.split(".")[-1]) for t in targets
                   for a in layers)
