"""What MLX's transformations and `Module.update` take as arguments, stated on where a value
comes from:
- MLX100: an `nn.Module` handed as an argument to a compiled function (`step(model, x, y)`
  with `step = mx.compile(step)`). `mx.compile` flattens its arguments as trees, so inside the
  function the model is a plain dict of arrays: `nn.value_and_grad(model, ...)` raises
  `'dict' object has no attribute 'trainable_parameters'` (mlx issue 1388; failure corpus
  fresh15 `b15_compile_module_arg`: the first step raised; closing over the model with
  `inputs=state, outputs=state` trains).
- MLX101: `model.update(flat)` where `flat` is keyed by `tree_flatten`'s dotted names
  (`dict(tree_flatten(...))`, a comprehension or a loop over its pairs): `update` takes the
  nested tree, and on 0.32.4 raises `Module does not have parameter named "layers.0.weight"`
  (mlx issue 2233; fresh15 `b15_update_flat_keys`; `tree_unflatten` first trains).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import contexts, module_instances, transformed_arg
from ..finding import Finding
from ..flow import assignments, body_assignments, calls, scope_nodes
from ..names import TREE_FLATTEN
from ..source import FUNCTIONS, SourceFile
from .base import Rule

# `step = mx.compile(`, `step = compile(`, `step = partial(mx.compile, ...)(`: the text after
# the name (found by `str.find`: a regex led by `\w+` tried every position, 0.27 s here)
COMPILING = (" = mx.compile(", " = compile(", " = partial(mx.compile", " = partial(compile")
NAME_BEFORE = re.compile(r"(\w+)$")
COMPILED_BY_DECORATOR = re.compile(r"@(?:mx\.compile|partial\(mx\.compile[^\n]*)\n"
                                   r"(?:@[^\n]*\n)*(?:async )?def (\w+)")
BUILT = re.compile(r"^\s*(\w+) = (?:nn\.)?[A-Z]\w*\(", re.MULTILINE)
WORD = re.compile(r"\w+")


def compiled_in_text(text: str) -> set[str]:
    """The names a line binds to a compiled function (`COMPILING`)."""
    found = set()
    for lead in COMPILING:
        at = text.find(lead)
        while at >= 0:
            line = text[text.rfind("\n", 0, at) + 1:at]
            if (named := NAME_BEFORE.search(line)) is not None:
                found.add(named[1])
            at = text.find(lead, at + 1)
    return found


def called_with(text: str, name: str) -> Iterator[str]:
    """The text between the parentheses of each `name(...)` call (up to the first `)`), by
    `str.find` (a `\\bname\\(` regex tried every position: 0.45 s over the packages)."""
    at = text.find(name + "(")
    while at >= 0:
        if at == 0 or not (text[at - 1].isalnum() or text[at - 1] in "_."):
            start = at + len(name) + 1
            yield text[start:text.find(")", start)]
        at = text.find(name + "(", at + 1)


def compiled_names(source: SourceFile) -> set[str]:
    """Names that run a compiled function: `step = mx.compile(f)` (its target), and the
    functions decorated with `@mx.compile` or `@partial(mx.compile, ...)`."""
    found = {t.id for t, v in assignments(source.of_type(ast.Assign))
             if isinstance(t, ast.Name) and isinstance(v, ast.Call)
             and (transformed_arg(source, v) or ("",))[0] == "compile"}
    return found | {getattr(f, "name", "") for f, kinds in contexts(source).items()
                    if "compile" in kinds and getattr(f, "decorator_list", None)}


class ModuleThroughCompile(Rule):
    """MLX100: `step(model, x, y)` where `step` is compiled and `model` a module."""

    id = "MLX100"
    anchors = ("compile",)
    local = False  # the compile and the call may sit in different blocks

    @staticmethod
    def may_fire(text: str) -> bool:
        """A compiled name (`f = mx.compile(...)`, `@mx.compile def f`) called with a name
        that a line binds to a constructor (`model = Net(...)`)."""
        if "compile" not in text:
            return False
        compiled = compiled_in_text(text) | set(COMPILED_BY_DECORATOR.findall(text))
        if not compiled:
            return False
        built = set(BUILT.findall(text))
        return any(set(WORD.findall(given)) & built for name in compiled
                   for given in called_with(text, name))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        compiled = compiled_names(source)
        modules = module_instances(source)
        if not compiled or not modules:
            return
        for call in source.of_type(ast.Call):
            if isinstance(call.func, ast.Name) and call.func.id in compiled and any(
                    isinstance(a, ast.Name) and a.id in modules for a in call.args):
                yield self.hit(source, call)


def flat_dicts(source: SourceFile, nodes: list[ast.AST]) -> set[str]:
    """Names among a scope's `nodes` keyed by `tree_flatten`'s dotted names."""
    found = set()
    for target, value in assignments(nodes):
        if isinstance(target, ast.Name) and flattens(source, value):
            found.add(target.id)
    for loop in (n for n in nodes if isinstance(n, ast.For)):
        key = loop.target.elts[0] if isinstance(loop.target, ast.Tuple) and \
            loop.target.elts else None
        if isinstance(key, ast.Name) and isinstance(loop.iter, ast.Call) and \
                source.imports.resolve(loop.iter.func) in TREE_FLATTEN:
            found |= {t.value.id for t, _ in body_assignments(source, loop)
                      if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)
                      and isinstance(t.slice, ast.Name) and t.slice.id == key.id}
    return found


def flattens(source: SourceFile, value: ast.AST) -> bool:
    """`dict(tree_flatten(t))` or `{k: ... for k, v in tree_flatten(t)}`."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
            value.func.id == "dict" and len(value.args) == 1:
        value = value.args[0]
        return isinstance(value, ast.Call) and source.imports.resolve(value.func) in TREE_FLATTEN
    return isinstance(value, ast.DictComp) and any(
        isinstance(g.iter, ast.Call) and source.imports.resolve(g.iter.func) in TREE_FLATTEN
        for g in value.generators)


class FlatKeysToUpdate(Rule):
    """MLX101: `model.update(new)` with `new` keyed by `tree_flatten`'s dotted names."""

    id = "MLX101"
    anchors = ("tree_flatten",)
    local = True  # reads one function, or the module's top-level code

    @staticmethod
    def may_fire(text: str) -> bool:
        return "tree_flatten" in text and ".update(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        modules = module_instances(source)
        for scope in [source.tree, *source.of_type(*FUNCTIONS)]:
            nodes = scope_nodes(source, scope)
            flat = flat_dicts(source, nodes)
            for call in calls(nodes):
                func = call.func
                if flat and isinstance(func, ast.Attribute) and func.attr == "update" and \
                        isinstance(func.value, ast.Name) and func.value.id in modules and \
                        len(call.args) == 1 and isinstance(call.args[0], ast.Name) and \
                        call.args[0].id in flat and not call.keywords:  # strict=False: MLX064
                    yield self.hit(source, call)
