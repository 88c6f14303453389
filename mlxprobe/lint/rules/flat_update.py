"""MLX064: a flat mapping of dotted paths (`tree_flatten` keys, `layers.0.weight`) handed to
`Module.update(..., strict=False)`: update walks a nested tree, so with strict=False every
dotted key matches nothing and nothing is updated, silently.

MLX155: the same mapping handed to `Module.update` as it is (strict, the default) on a model
with submodules: the first dotted key raises ValueError ("Module does not have parameter
named ..."). Measured (mlx 0.32.4 CPU, failure corpus fresh49 `b49_flat_savez_resume`,
MLX-VAE e5113eb): a checkpoint saved with `mx.savez(path, **dict(tree_flatten(params)))` and
restored with `model.update(mx.load(path))` raised at the resume; `model.load_weights(path)`
(or `tree_unflatten(list(flat.items()))`) restores it. A model whose parameters all sit on
its own top level (no submodule) has no dotted key: left alone.

Job: follow a dict's keys back to `tree_flatten` pairs (`dict(tree_flatten(t))`, a dict
comprehension over them, `d[name] = ...` in a loop over them) or to a loaded checkpoint
(`mx.load(path)`: the flat dict it was saved as) and find it passed to
`update` with `strict=False` (MLX064), or as it is to the `update` of a name bound to a
module of the file, every root model class of which holds submodules (MLX155), with no
`tree_unflatten` in between.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import helper_assignments, module_instances
from ..finding import Finding
from ..flow import walk
from ..names import TREE_FLATTEN
from ..source import SourceFile
from .base import Rule, trains
from .nested_values import nested_model_file

LOAD = "mlx.core.load"


class FlatUpdateNonStrict(Rule):
    """MLX064: `model.update(flat, strict=False)` with `flat` keyed by tree_flatten paths."""

    id = "MLX064"
    anchors = ("strict=False",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "strict=False" in text and ("tree_flatten" in text or "load(" in text) and (
            ".update(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if not self._nonstrict_update(call):
                continue
            scope = source.enclosing(call) or source.tree
            if self._flat(source, call.args[0], scope):
                yield self.hit(source, call)

    @staticmethod
    def _nonstrict_update(call: ast.Call) -> bool:
        return (isinstance(call.func, ast.Attribute) and call.func.attr == "update"
                and len(call.args) == 1 and any(
                    k.arg == "strict" and isinstance(k.value, ast.Constant)
                    and k.value.value is False for k in call.keywords))

    def _flat(self, source: SourceFile, node: ast.AST, scope: ast.AST) -> bool:
        """`node` is built from tree_flatten pairs: inline, or a name of `scope` so bound
        or filled."""
        if self._from_pairs(source, node, set()):
            return True
        if not isinstance(node, ast.Name):
            return False
        nodes = list(walk(scope.body))
        pairs = self._pair_names(source, nodes)
        bound = [v for t, v in helper_assignments(source, nodes)
                 if isinstance(t, ast.Name) and t.id == node.id]
        return any(self._from_pairs(source, v, pairs) for v in bound) or any(
            self._filled(n, node.id, pairs) for n in nodes)

    def _from_pairs(self, source: SourceFile, value: ast.AST, pairs: set[str]) -> bool:
        """`dict(tree_flatten(t))`, `{k: ... for k, v in tree_flatten(t)}`, or `mx.load(path)`
        (a checkpoint's arrays, one flat dict keyed by the paths they were saved under)."""
        if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "dict" and value.args:
            return self._flattens(source, value.args[0])
        if isinstance(value, ast.Call) and source.imports.resolve(value.func) == LOAD:
            return True
        if isinstance(value, ast.DictComp):
            return any(self._flattens(source, g.iter) for g in value.generators)
        return False

    @staticmethod
    def _flattens(source: SourceFile, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and source.imports.resolve(node.func) in TREE_FLATTEN

    def _pair_names(self, source: SourceFile, nodes: list[ast.AST]) -> set[str]:
        """Loop variables holding a tree_flatten path: `for name, g in tree_flatten(t)`."""
        return {loop.target.elts[0].id for loop in nodes if isinstance(loop, ast.For)
                and self._flattens(source, loop.iter) and isinstance(loop.target, ast.Tuple)
                and isinstance(loop.target.elts[0], ast.Name)}

    @staticmethod
    def _filled(node: ast.AST, name: str, pairs: set[str]) -> bool:
        """`name[path] = ...` with `path` a tree_flatten path variable."""
        return isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name
            and isinstance(t.slice, ast.Name) and t.slice.id in pairs for t in node.targets)


class FlatUpdateStrict(FlatUpdateNonStrict):
    """MLX155: `model.update(mx.load(path))` on a model with submodules."""

    id = "MLX155"
    anchors = (".update(",)
    local = False  # reads the file's model classes and where its modules are bound

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".update(" in text and "nn.Module" in text and (
            "tree_flatten" in text or ".load(" in text) and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        models = module_instances(source)
        for call in source.of_type(ast.Call):
            if not self._module_update(call, models):
                continue
            scope = source.enclosing(call) or source.tree
            if self._flat(source, call.args[0], scope) and nested_model_file(source):
                yield self.hit(source, call)

    @staticmethod
    def _module_update(call: ast.Call, models: set[str]) -> bool:
        """`model.update(x)` with no `strict` given, on a name bound to a module."""
        func = call.func
        return (isinstance(func, ast.Attribute) and func.attr == "update"
                and len(call.args) == 1 and not call.keywords
                and isinstance(func.value, ast.Name) and func.value.id in models)
