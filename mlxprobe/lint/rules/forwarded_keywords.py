"""MLX262: keywords packed into a dict for a method that unpacks it into another method
(`self.propagate(..., update_kwargs=dict(input=h))`, then `self.update_nodes(aggregated,
**update_kwargs)`), where the method that finally receives them takes no such keyword and no
`**kwargs`: Python raises "got an unexpected keyword argument" at the first call, the
model's first forward pass.

Measured (mlx 0.32.4 CPU, failure corpus fresh288 `estuary_relay_relconv`, from mlx-graphs
63e55b8 "rel_conv fixes"): a relational graph convolution handed
`update_kwargs=dict(input=node_features)` to `MessagePassing.propagate`, which calls
`self.update_nodes(aggregated, **update_kwargs)` against `def update_nodes(self,
aggregated, old)`; the first forward raised "TypeError: update_nodes() got an unexpected
keyword argument 'input'"; with `dict(old=node_features)` it trained.

Job: in a method of one of the file's classes, a call `self.m(..., p=dict(k=...))` (or
`p={"k": ...}`), where `m` (found in the class or its bases in the file) passes its
parameter `p` on as `**p` to `self.g(...)`, and `g` (found from the calling class, as `self`
is one of it) has no parameter `k` and no `**kwargs`. The same for the file's plain
functions, `f(..., p=dict(k=...))` forwarding `**p` to another of its functions.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import method_of
from ..source import FUNCTIONS, SourceFile
from .base import Rule, trains


def lookup(classes: dict[str, ast.ClassDef], cls: ast.ClassDef | None, name: str,
           depth: int = 4) -> ast.AST | None:
    """The method `name` of `cls` or of its bases among the file's classes."""
    if cls is None or depth == 0:
        return None
    own = method_of(cls, name)
    if own is not None:
        return own
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            found = lookup(classes, classes[base.id], name, depth - 1)
            if found is not None:
                return found
    return None


def packed_keys(value: ast.AST) -> list[ast.AST]:
    """The keyword nodes of `dict(k=...)`, or the string keys of `{"k": ...}`."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
            value.func.id == "dict" and not value.args:
        return [k for k in value.keywords if k.arg is not None]
    if isinstance(value, ast.Dict) and None not in value.keys:
        return [k for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return []


def key_name(node: ast.AST) -> str:
    return node.arg if isinstance(node, ast.keyword) else node.value


def takes(function: ast.AST, key: str) -> bool:
    """`function` accepts the keyword `key`: a parameter of that name, or `**kwargs`."""
    args = function.args
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    return args.kwarg is not None or key in names


def spread_targets(function: ast.AST, parameter: str) -> list[str]:
    """Names `g` of the calls `self.g(..., **parameter)` or `g(..., **parameter)` in
    `function`."""
    found = []
    for call in (n for n in ast.walk(function) if isinstance(n, ast.Call)):
        if any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == parameter
               for k in call.keywords):
            func = call.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                    func.value.id == "self":
                found.append(("self", func.attr))
            elif isinstance(func, ast.Name):
                found.append(("", func.id))
    return found


class ForwardedKeywords(Rule):
    """MLX262: `self.propagate(update_kwargs=dict(input=h))` into `update_nodes(aggregated,
    old)`."""

    id = "MLX262"
    anchors = ("**",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "**" in text and ("dict(" in text or "{" in text) and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        classes = {c.name: c for c in source.of_type(ast.ClassDef)}
        functions = {f.name: f for f in source.tree.body if isinstance(f, FUNCTIONS)}
        for call in source.of_type(ast.Call):
            cls = self._class_of(source, call, classes)
            first = self._callee(call.func, cls, classes, functions)
            if first is None:
                continue
            for keyword in call.keywords:
                yield from self._unknown(keyword, first, cls, classes, functions, source)

    def _unknown(self, keyword: ast.keyword, first: ast.AST, cls: ast.ClassDef | None,
                 classes: dict, functions: dict, source: SourceFile) -> Iterator[Finding]:
        keys = packed_keys(keyword.value) if keyword.arg else []
        for owner, name in spread_targets(first, keyword.arg) if keys else []:
            target = lookup(classes, cls, name) if owner else functions.get(name)
            if target is None:
                continue
            for key in keys:
                if not takes(target, key_name(key)):
                    yield self.hit(source, key)

    @staticmethod
    def _class_of(source: SourceFile, call: ast.Call,
                  classes: dict[str, ast.ClassDef]) -> ast.ClassDef | None:
        found = source.enclosing(call, (ast.ClassDef,))
        return found if found is not None and found.name in classes else None

    @staticmethod
    def _callee(func: ast.AST, cls: ast.ClassDef | None, classes: dict,
                functions: dict) -> ast.AST | None:
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                func.value.id == "self":
            return lookup(classes, cls, func.attr)
        return functions.get(func.id) if isinstance(func, ast.Name) else None
