"""MLX168: a module attribute that holds an MLX array tested for its truth (`if self.bias:`,
`not self.mask`, `self.scale and ...`): MLX converts an array to a bool only when it has one
element, so a layer whose flag attribute was overwritten by its own array (`self.bias =
bias`, then `self.bias = mx.zeros((dims,))` when the flag is set) raises "[convert] Only
length-1 arrays can be converted to Python scalars" at its first forward pass, and only in
the configuration that builds the array.

Measured (mlx 0.32.4 CPU, failure corpus fresh57 `tinygpt_layernorm_bias`, nanoGPT_mlx
commit b9c60e4): a LayerNorm with `bias=True` raised that ValueError at the first step; with
the flag kept apart (`self.use_bias = bias`) it trains.

Job: in each class, the `self.<name>` attributes some method binds to an mlx.core array call
(`mx.zeros(...)`, `mx.random.normal(...)`) or to a parameter annotated as an array or None
(`node_features: Optional[mx.array] = None`: fresh362 `quarry_lattice_molgraph`, mlx-graphs
895e538, `len(self.node_features) if self.node_features else None` raised at the first
batch); a truth test of one of them in a method of the
same class (an `if`/`while`/conditional expression's test, a `not`'s operand, an `and`/`or`
operand) is the finding. A comparison (`self.bias is not None`) or a membership test
(`"bias" in self`) is not a truth test.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import is_mx_array_call
from ..finding import Finding
from ..flow import body_assignments, self_attr
from ..source import SourceFile, descendants
from .base import Rule

# `if self.bias`, `not self.mask`, `... and self.scale`: the attributes read for their truth
# (each then looked up as bound to `mx.` or annotated as an array); one pattern a word, each
# starting with a literal, which `re` finds far faster than an alternation
TESTED = tuple(re.compile(rf"{word} self\.(\w+)") for word in ("if", "while", "not", "and",
                                                               "or"))


def tested(node: ast.AST) -> list[ast.AST]:
    """The expressions `node` reads for their truth."""
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        return [node.test]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return [node.operand]
    return list(node.values) if isinstance(node, ast.BoolOp) else []


# `self.bias = mx.zeros(...)`: an attribute bound to an mlx.core call, as written
ASSIGNED = re.compile(r"self\.(\w+)\s*=\s*mx\.")
# the name annotated in the text before an `mx.array` (`node_features: Optional[`)
ANNOTATION_HEAD = re.compile(r"(\w+)\s*:\s*(?:Optional\[\s*|Union\[\s*)?$")


def annotated(text: str) -> set[str]:
    """The names the text annotates as an array or None, read from the few characters
    before each `mx.array` (a regex over the whole text that starts at a name cost a second
    over mlx-lm, mlx-lm-lora and mlx-vlm)."""
    found, at = set(), text.find("mx.array")
    while at >= 0:
        head = ANNOTATION_HEAD.search(text, max(0, at - 48), at)
        if head:
            found.add(head.group(1))
        at = text.find("mx.array", at + 8)
    return found


# a parameter annotated as an array, or as an array or None: `x: mx.array`,
# `x: Optional[mx.array] = None`, `x: mx.array | None`, `Union[mx.array, None]`
ARRAY_TYPE = re.compile(r"(?:Optional\[|Union\[)?(?:mx|mlx\.core)\.array"
                        r"(?:\]|, None\]|\s*\|\s*None)?")


def array_parameters(method: ast.FunctionDef) -> set[str]:
    """The parameters of `method` annotated as an array (or None)."""
    params = [*method.args.posonlyargs, *method.args.args, *method.args.kwonlyargs]
    return {a.arg for a in params if a.annotation is not None
            and ARRAY_TYPE.fullmatch(ast.unparse(a.annotation))}


def array_attributes(source: SourceFile, cls: ast.ClassDef) -> set[str]:
    """The `self.<name>` some method of `cls` binds to an mlx.core array call, or to a
    parameter annotated as an array or None (`node_features: Optional[mx.array] = None`,
    `self.node_features = node_features`)."""
    found = set()
    for method in cls.body:
        if isinstance(method, ast.FunctionDef):
            params = array_parameters(method)
            found |= {self_attr(target) for target, value in body_assignments(source, method)
                      if self_attr(target) and (is_mx_array_call(source, value) or isinstance(
                          value, ast.Name) and value.id in params)}
    return found


class ArrayAttributeTruth(Rule):
    """MLX168: `self.bias = mx.zeros((dims,))` in `__init__`, `if self.bias:` in
    `__call__`."""

    id = "MLX168"
    anchors = ("= mx.", "mx.array")
    local = True  # reads one class

    @staticmethod
    def may_fire(text: str) -> bool:
        """An attribute both bound to `mx.` (or named as a parameter annotated as an array)
        and read after `if`/`not`/`and`/`or` (a text test: `if self.training:` alone is in
        most model files)."""
        if "= mx." not in text and "mx.array" not in text:
            return False
        tested = {name for pattern in TESTED for name in pattern.findall(text)}
        if not tested:
            return False
        return bool(tested & set(ASSIGNED.findall(text)) or tested & annotated(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in source.of_type(ast.ClassDef):
            arrays = array_attributes(source, cls)
            if not arrays:
                continue
            for node in descendants(cls):
                for test in tested(node):
                    if self_attr(test) in arrays:
                        yield self.hit(source, test)
