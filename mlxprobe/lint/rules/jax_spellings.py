"""MLX112: JAX spellings that MLX lacks, in a module that uses MLX: `x.at[idx].set(v)` (MLX's
`ArrayAt` has add, subtract, multiply, divide, maximum and minimum, no `set`, `get` or
`apply`) and `has_aux=` handed to `mx.value_and_grad`, `mx.grad` or `nn.value_and_grad`
(MLX's transformations take no such keyword: they differentiate the first output of a
function that returns several and hand the others back). Both raise when the line first runs;
a step wrapped in `try/except` then swallows the error at every step and the model never
trains.

Measured (mlx 0.32.4 CPU): `mx.ones(3).at[0].set(1.0)` raises `AttributeError: 'ArrayAt'
object has no attribute 'set'`; `nn.value_and_grad(model, f, has_aux=True)` raises `TypeError:
value_and_grad() got an unexpected keyword argument 'has_aux'`. Failure corpus fresh23
`cutmix_patch_paste` (fastmlx's fix commit) and `grpo_has_aux_swallowed` (MLX-GRPO's: 1,200
swallowed TypeErrors, the parameters never moved).

A third: `leaves, treedef = tree_flatten(tree)`, JAX's pair, where MLX's `tree_flatten`
returns one list of (key, value) pairs: it raises `too many values to unpack` (or, with
two leaves, hands back two pairs). Failure corpus fresh131 `vhf_callsign_intent_accumclip`
(mlx-raclate d9af45e).

Job: find the three spellings; a module that imports jax as well is left alone (its `.at`
may be JAX's).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

AT_METHODS = frozenset({"add", "subtract", "multiply", "divide", "maximum", "minimum"})
TRANSFORMS = frozenset({"mlx.core.value_and_grad", "mlx.core.grad", "mlx.nn.value_and_grad"})


def jax_at(call: ast.Call) -> bool:
    """`x.at[...].set(...)`: a method MLX's `ArrayAt` lacks, called on `<expr>.at[...]`."""
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr not in AT_METHODS \
        and isinstance(func.value, ast.Subscript) \
        and isinstance(func.value.value, ast.Attribute) and func.value.value.attr == "at"


def has_aux(source: SourceFile, call: ast.Call) -> bool:
    return any(k.arg == "has_aux" for k in call.keywords) \
        and source.imports.resolve(call.func) in TRANSFORMS


def unpacked_flatten(source: SourceFile, node: ast.Assign) -> bool:
    """`leaves, treedef = tree_flatten(tree)`: JAX's pair; MLX's `tree_flatten` returns one
    list of (key, value) pairs (fresh131 `vhf_callsign_intent_accumclip`, mlx-raclate
    d9af45e: `flattened_grads, _ = tree_flatten(accumulated_grads)` raised `too many values
    to unpack` at the first clipped step)."""
    return type(node.value) is ast.Call and source.imports.resolve(
        node.value.func) == "mlx.utils.tree_flatten" and any(
        type(t) in (ast.Tuple, ast.List) and len(t.elts) == 2 for t in node.targets)


def unpacks_flatten(text: str) -> bool:
    """A line that binds `a, b = ...tree_flatten(`: a comma before the `=` before the call
    (a text test: most files that name `tree_flatten` bind its list to one name)."""
    at = text.find("tree_flatten(")
    while at >= 0:
        line = text[text.rfind("\n", 0, at) + 1:at]
        if "=" in line and "," in line.split("=", 1)[0]:
            return True
        at = text.find("tree_flatten(", at + 1)
    return False


class JaxSpelling(Rule):
    """MLX112: `x.at[i].set(v)`, `value_and_grad(..., has_aux=True)` or `leaves, treedef =
    tree_flatten(tree)` under MLX."""

    id = "MLX112"
    anchors = (".at[", "has_aux", "tree_flatten")
    local = True  # reads one call

    @staticmethod
    def may_fire(text: str) -> bool:
        return (".at[" in text or "has_aux" in text or unpacks_flatten(text)) \
            and "import jax" not in text and "from jax" not in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if jax_at(call) or has_aux(source, call):
                yield self.hit(source, call)
        for node in source.of_type(ast.Assign):
            if unpacked_flatten(source, node):
                yield self.hit(source, node)
