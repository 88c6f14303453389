"""MLX027: an nn.Module subclass whose `__init__` never runs `nn.Module.__init__`.

Job: read each module class's own `__init__` for a call of a base class's `__init__`
(`super().__init__()`, `super(Cls, self).__init__()`, `nn.Module.__init__(self)`). Without it
the layers are still stored (a Module is a dict) and the forward pass works, but the
bookkeeping `nn.Module.__init__` sets (`_no_grad`, `_training`) is missing: measured (mlx 0.32.4
CPU) `parameters()`, `__call__`, `load_weights`, `train()` work, while `trainable_parameters()`,
`freeze()` and `nn.value_and_grad(model, f)(...)` raise AttributeError '... has no attribute
'_no_grad''.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import body_nodes, calls, method_of
from ..partial import blocks
from ..source import SourceFile
from .base import Rule

# A class statement at column 0: its name and its bases' text.
CLASS = re.compile(r"^(?:@[^\n]*\n)*class (\w+)\(([^)]*)\)", re.MULTILINE)


def lacks_super_init(text: str) -> bool:
    """More `def __init__(` than calls of some `.__init__(`: one may never call its base's."""
    return text.count("def __init__(") > text.count(".__init__(")


def module_classes(source: SourceFile) -> list[ast.ClassDef]:
    """Classes deriving from an `mlx.nn` class, directly or through the module's own classes."""
    found: dict[str, ast.ClassDef] = {}
    classes = list(source.of_type(ast.ClassDef))
    for _ in range(3):  # a few levels of local subclassing
        for cls in classes:
            if cls.name not in found and any(is_module_base(source, b, found) for b in cls.bases):
                found[cls.name] = cls
    return list(found.values())


def is_module_base(source: SourceFile, base: ast.AST, local: dict[str, ast.ClassDef]) -> bool:
    if isinstance(base, ast.Name) and base.id in local:
        return True
    return (source.imports.resolve(base) or "").startswith("mlx.nn.")


def own_init(cls: ast.ClassDef) -> ast.AST | None:
    return method_of(cls, "__init__")


def calls_base_init(source: SourceFile, init: ast.AST) -> bool:
    """Some `<x>.__init__(...)` runs in the body: super()'s, a named base's."""
    return any(isinstance(c.func, ast.Attribute) and c.func.attr == "__init__"
               for c in calls(body_nodes(source, init)))


def module_like(bases: str, local: set[str]) -> bool:
    return "nn." in bases or "Module" in bases or any(
        name in local for name in re.findall(r"\w+", bases))


class ModuleWithoutSuperInit(Rule):
    """MLX027: a class deriving from an `mlx.nn` Module defines `__init__` and never calls
    its base class's `__init__`."""

    id = "MLX027"
    anchors = ("def __init__(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "class " in text and lacks_super_init(text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks of a class deriving from something named like a Module (`nn.X`,
        `Module`, the text's own such classes) with an `__init__` it may not chain, and the
        blocks of the local classes those derive from (to resolve their bases)."""
        modules = {name for name, bases in CLASS.findall(text) if module_like(bases, set())}
        if not modules:
            return lambda block: False
        suspects = [h for b in blocks(text)[1:] if (h := CLASS.match(b)) and module_like(
            h.group(2), modules) and lacks_super_init(b)]
        names = {h.group(1) for h in suspects} | {
            n for h in suspects for n in re.findall(r"\w+", h.group(2)) if n in modules}

        def wanted_block(block: str) -> bool:
            head = CLASS.match(block)
            return head is not None and head.group(1) in names
        return wanted_block

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            init = own_init(cls)
            if init is not None and not calls_base_init(source, init):
                yield self.hit(source, init)
