"""MLX109: an optimizer or a gradient function built and never used: bound to a local name
that its function never reads again, or to `self.<name>` in a class the file itself builds and
whose file never reads `.<name>`. Nothing steps the optimizer or computes a gradient, so no
parameter changes: a training step left as a forward pass ("for now"), a refactor that kept
the construction and dropped the call. EfficientAI-MLX-Toolkit's fix commit b10df58; failure
corpus fresh20 `lora_stub_step`: the loss at 3.376-3.378 (chance ln 28 = 3.33) for 400 steps,
2.73 -> 0.62 once the step computes gradients and calls `optimizer.update`.

Job: find `x = optim.AdamW(...)` / `x = nn.value_and_grad(...)` (and `self.x = ...`) whose
name is read nowhere it could be: the function's own body for a local, the whole file for an
attribute of a class the file instantiates (a library's class may be stepped by code elsewhere,
so a class the file does not build is left alone; so is a module-level name, which another
module may import).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import scope_nodes
from ..names import MX_GRAD, NN_GRAD
from ..source import FUNCTIONS, SourceFile
from .base import Rule

OPTIMIZERS = "mlx.optimizers."


def builds_step(source: SourceFile, value: ast.AST) -> bool:
    """`optim.AdamW(...)` (a class of mlx.optimizers) or `nn.value_and_grad(...)`."""
    if not isinstance(value, ast.Call):
        return False
    resolved = source.imports.resolve(value.func) or ""
    name = resolved.rsplit(".", 1)[-1]
    return resolved in MX_GRAD | NN_GRAD or (
        resolved.startswith(OPTIMIZERS) and name[:1].isupper() and name != "Optimizer")


def local_unread(source: SourceFile, function: ast.AST, name: str) -> bool:
    """No read of `name` in the function, its nested functions and lambdas included, and no
    `global`/`nonlocal` that makes it another scope's name."""
    own = scope_nodes(source, function)
    nodes = own + [n for f in own if isinstance(f, (*FUNCTIONS, ast.Lambda))
                   for n in ast.walk(f)]
    return not any((type(n) is ast.Name and n.id == name and type(n.ctx) is ast.Load)
                   or (type(n) in (ast.Global, ast.Nonlocal) and name in n.names)
                   or (type(n) is ast.Call and type(n.func) is ast.Name
                       and n.func.id in ("locals", "vars", "eval", "exec"))
                   for n in nodes)


def attribute_unread(source: SourceFile, name: str) -> bool:
    """No `.name` read anywhere in the file (a file that reads attributes by `getattr` or
    `__dict__` is left alone before this: `check`)."""
    return not any(n.attr == name and type(n.ctx) is ast.Load
                   for n in source.of_type(ast.Attribute))


def built_here(source: SourceFile, cls: ast.ClassDef | None) -> bool:
    """The file calls the class by name (it is the file's own trainer, not a library's)."""
    return cls is not None and any(
        type(c.func) is ast.Name and c.func.id == cls.name for c in source.of_type(ast.Call))


class UnusedStep(Rule):
    """MLX109: an optimizer or gradient function that nothing ever uses."""

    id = "MLX109"
    anchors = ("optimizers", "value_and_grad", "grad(")
    local = False  # an attribute is looked for in the whole file

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("optimizers" in text or "grad(" in text) and " = " in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        dynamic = "getattr(" in source.text or "__dict__" in source.text
        for node in source.of_type(ast.Assign):
            if len(node.targets) == 1 and builds_step(source, node.value) and self._unused(
                    source, node, node.targets[0], dynamic):
                yield self.hit(source, node)

    @staticmethod
    def _unused(source: SourceFile, node: ast.Assign, target: ast.AST, dynamic: bool) -> bool:
        function = source.enclosing(node)
        if type(target) is ast.Name:
            return function is not None and local_unread(source, function, target.id)
        if not (type(target) is ast.Attribute and type(target.value) is ast.Name
                and target.value.id == "self") or dynamic:
            return False
        return attribute_unread(source, target.attr) and built_here(
            source, source.enclosing(node, (ast.ClassDef,)))
