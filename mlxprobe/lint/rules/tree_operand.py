"""MLX200: a parameter or gradient tree handed to an `mlx.core` array op as its array
(`mx.flatten(grads)`, `mx.sum(model.parameters())`, `mx.concatenate(grads)`): MLX's trees are
dicts of arrays, its array ops take one array, and they do not walk trees, so the call raises
`TypeError: flatten(): incompatible function arguments ... Invoked with types: dict` when it
first runs (often at the first logging step, after training has begun). `mlx.utils`'s
`tree_flatten` lists a tree's leaves; `tree_map` applies a function to each.

Measured (mlx 0.32.4 CPU, failure corpus fresh182 `limerick_lm_gradnorm_flatten`, sml-mlx
7e86659): a gradient-norm log line `math.sqrt(sum((g ** 2).sum() for g in
mx.flatten(grads)))` raised that TypeError at step 10; over `tree_flatten(grads)`'s leaves it
logged and the run trained 240 steps.

Job: calls resolved to `mlx.core` functions other than those that take trees or act by a
side effect (evaluation, saving, compilation and the transformations, streams, memory:
MLX102's STATEFUL; and names mlx lacks, MLX037's: `mx.utils.tree_flatten(tree)` is that
rule's), whose first argument is a tree: a tree call (`model.parameters()`,
`tree_map(...)`), or a name that every binding of its function (or the module) binds to one
or to the gradients of an `nn.value_and_grad` (a module's: `mx.grad` of an array is an
array), and that no loop or comprehension of that scope rebinds (fresh12
`correct_a12_newton_logreg`, correct, takes `mx.linalg.norm(g)` of `g = mx.grad(f)(w)`, an
array; fresh102 `sea_ice_type_tempscale` reads each leaf `g` of `tree_flatten(g0)`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments
from ..source import SourceFile
from .api import missing_read
from .base import Rule
from .discarded import STATEFUL
from .tree_iteration import graders, tree_call, tree_names

MODULE_GRADS = frozenset({"mlx.nn.value_and_grad"})


class TreeIntoArrayOp(Rule):
    """MLX200: `mx.flatten(grads)` with `grads` a dict of arrays."""

    id = "MLX200"
    anchors = ("mx.",)
    local = True  # reads one call and the bindings of its function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mx." in text and ("grad" in text or "parameters()" in text
                                  or "tree_map(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        named = graders(source, MODULE_GRADS)
        for call in source.of_type(ast.Call):
            if array_op(source.imports.resolve(call.func) or "") and call.args and only_tree(
                    source, call.args[0], named):
                yield self.hit(source, call)


def array_op(name: str) -> bool:
    """An `mlx.core` function mlx has that takes an array, not a tree."""
    core = "mlx.core."
    return name.startswith(core) and STATEFUL.match(name) is None and not missing_read(
        "mlx.core", name[len(core):])


def only_tree(source: SourceFile, node: ast.AST, named: set[str]) -> bool:
    """A tree call, or a name every binding of its scope binds to a tree."""
    if tree_call(source, node):
        return True
    if not isinstance(node, ast.Name):
        return False
    scope = source.enclosing(node) or source.tree
    if node.id not in tree_names(source, scope, named):
        return False
    values = [v for t, v in body_assignments(source, scope) if isinstance(t, ast.Name)
              and t.id == node.id]
    return all(tree_call(source, v) for v in values) and not loop_bound(scope, node.id)


def loop_bound(scope: ast.AST, name: str) -> bool:
    """A `for` or a comprehension of the scope binds the name."""
    targets = [n.target for n in ast.walk(scope) if isinstance(n, (ast.For, ast.comprehension))]
    return any(isinstance(t, ast.Name) and t.id == name for target in targets
               for t in ast.walk(target))
