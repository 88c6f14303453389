"""MLX135: a module path from `named_modules()` walked with `getattr` one dotted part at a
time: MLX keeps a stack of blocks in a plain list (`model.layers`), so the part `1` of
`layers.1.q_proj` is a list index that `getattr` cannot follow.

Job: in a function of a file that reads module paths (`named_modules(` or `leaf_modules(`),
find a `for part in <x>.split(".")` (or a slice of a name bound to one) whose body calls
`getattr(obj, part)`, where the function has no integer branch for the parts (`isdigit`,
`isnumeric`, `int(`) and no `try`. The first list part raises AttributeError ("'list' object
has no attribute '1'"); `setattr(parent, "0", layer)` on a list would do the same.

Measured (mlx 0.32.4 CPU, failure corpus fresh32 `lora_dotted_path`, SpecLoRA's fix): a
hand-rolled LoRA injector over `model.named_modules()` raised AttributeError while it set
the model up, before any step; indexing list parts by `int(part)` it trained.

A file whose model is its own and holds no list stands down: none of its `nn.Module`
classes binds a public attribute to a list or tuple in `__init__`, it builds no
`nn.Sequential`, and it loads no model from a package (`mlx_lm`, `mlx_vlm`, `transformers`,
`from_pretrained`): every part of every path is then an attribute (failure corpus fresh147
`gripper_lora_target_names_ok`, an mlx-vla LoRA injector over a model of plain attributes,
trained).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import init_attributes, local_values
from ..source import SourceFile, descendants
from .base import Rule

PATHS = ("named_modules(", "leaf_modules(")
INTEGER_BRANCH = ("isdigit", "isnumeric", "isdecimal")
ELSEWHERE = ("mlx_lm", "mlx_vlm", "transformers", "from_pretrained", "Sequential(")


def holds_lists(source: SourceFile) -> bool:
    """A model the file walks may hold a list of layers: one of its module classes binds a
    public list or tuple, it builds an `nn.Sequential`, or it loads a model from a package."""
    return any(word in source.text for word in ELSEWHERE) or any(
        init_attributes(cls, lambda v: type(v) in (ast.List, ast.ListComp, ast.Tuple))
        for cls in module_classes(source)) or not module_classes(source)


def _split_on_dots(source: SourceFile, node: ast.AST) -> bool:
    """`x.split(".")`, a slice of it, or a local name bound to one of those."""
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return any(_split_on_dots(source, v) for v in local_values(source, node, node))
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "split" and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == ".")


def _getattr_of(loop: ast.For, part: str) -> ast.Call | None:
    return next((c for c in descendants(loop) if isinstance(c, ast.Call)
                 and isinstance(c.func, ast.Name) and c.func.id == "getattr"
                 and len(c.args) >= 2 and isinstance(c.args[1], ast.Name)
                 and c.args[1].id == part), None)


def _handles_indices(function: ast.AST) -> bool:
    """The function branches on integer parts or catches the error."""
    for node in descendants(function):
        if isinstance(node, ast.Try) or (isinstance(node, ast.Attribute)
                                         and node.attr in INTEGER_BRANCH):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "int":
            return True
    return False


class DottedPathGetattr(Rule):
    """MLX135: `for part in name.split("."): parent = getattr(parent, part)`."""

    id = "MLX135"
    anchors = PATHS
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "getattr(" in text and '.split(".")' in text and any(p in text for p in PATHS)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not holds_lists(source):
            return
        for loop in source.of_type(ast.For):
            if not isinstance(loop.target, ast.Name) or not _split_on_dots(source, loop.iter):
                continue
            call = _getattr_of(loop, loop.target.id)
            function = source.enclosing(loop)
            if call is not None and function is not None and not _handles_indices(function):
                yield self.hit(source, call)
