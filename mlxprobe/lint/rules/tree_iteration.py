"""MLX116: a `for` loop or a comprehension over a parameter or gradient tree itself
(`model.parameters()`, `model.trainable_parameters()`, `tree_map(...)`, the gradients a
`value_and_grad` returned) that uses each item as an array. MLX's trees are dicts: iterating
one yields its keys, strings, so `(g * g).sum()` raises (PyTorch's `for p in
model.parameters()` habit; its parameters are a flat iterator of tensors).

Measured (mlx 0.32.4 CPU): `sum((p * p).sum() for p in nn.Linear(2, 2).parameters())` raises
`TypeError: can't multiply sequence by non-int of type 'str'`, and `[p.sum() for p in
m.parameters()]` raises `AttributeError: 'str' object has no attribute 'sum'`. Failure corpus
fresh19 `clip_norm_iterates_dict_keys` (a hand-written global-norm clip over
`tree_map(lambda x: x, grads)`; the fix iterates `tree_flatten(grads)`).

A parameter tree unpacked into a call (`mx.savez(path, *model.parameters())`) passes its keys
the same way (fresh45 `best_saver_savez`: the arrays were never saved), and an attribute set
on an iterated item (`param.stop_gradient = True`, PyTorch's `requires_grad` habit) fails
on the key string (fresh45 `bert_freeze_stopgrad`: AttributeError; `self.bert.freeze()`).

Job: find such iterations; `.items()`, `.values()` and `tree_flatten(...)` are what to iterate.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import passed_where
from ..finding import Finding
from ..flow import assigned, assignments, body_assignments
from ..source import SourceFile
from .base import Rule

# the text iterates a tree call or a name holding `grad` (`for g in grads:`)
ITERATED = re.compile(r"\bin\s+(?:[\w.]*(?:parameters\(\)|tree_map\()|\w*grad)")
TREE_METHODS = frozenset({"parameters", "trainable_parameters"})
STARRED = re.compile(r"\*[\w.]*parameters\(\)")  # a tree unpacked into a call
TREE_FUNCTIONS = frozenset({"mlx.utils.tree_map"})
GRADS = frozenset({"mlx.nn.value_and_grad", "mlx.core.value_and_grad"})
# Array methods a string lacks (and a str has: `strip`, `split`, `count`, ... are left out).
ARRAY_METHODS = frozenset({"sum", "mean", "square", "abs", "astype", "reshape", "max", "min",
                           "sqrt", "exp", "log", "flatten", "item", "size", "shape", "dtype"})


def tree_call(source: SourceFile, node: ast.AST) -> bool:
    """`model.parameters()`, `m.trainable_parameters()`, `tree_map(f, tree)`."""
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Attribute) and node.func.attr in TREE_METHODS:
        return not node.args and not node.keywords
    return source.imports.resolve(node.func) in TREE_FUNCTIONS


def graders(source: SourceFile, kinds: frozenset[str] = GRADS) -> set[str]:
    """Names bound to a value_and_grad (or to another of `kinds`): `loss_and_grad =
    nn.value_and_grad(model, f)`."""
    return {t.id for t, v in assignments(source.of_type(ast.Assign)) if isinstance(
        t, ast.Name) and isinstance(v, ast.Call) and source.imports.resolve(v.func) in kinds}


def tree_names(source: SourceFile, scope: ast.AST, graders: set[str]) -> set[str]:
    """Names the scope binds to a tree: `params = model.parameters()`, and the gradients of
    `loss, grads = loss_and_grad(...)` where `loss_and_grad` is one of `graders` (or a
    value_and_grad called in place). Once per scope and set of graders: `passed_trees` asks
    it of a caller for every value each call hands on."""
    return source.cached("tree_names " + " ".join(sorted(graders)), scope,
                         lambda: _tree_names(source, scope, graders))


def _tree_names(source: SourceFile, scope: ast.AST, graders: set[str]) -> set[str]:
    found: set[str] = set()
    for target, value in body_assignments(source, scope):
        if tree_call(source, value) and isinstance(target, ast.Name):
            found.add(target.id)
        elif isinstance(target, ast.Tuple) and len(target.elts) == 2 and isinstance(
                value, ast.Call) and grader_call(source, value.func, graders) and isinstance(
                target.elts[1], ast.Name):
            found.add(target.elts[1].id)
    return found


def grader_call(source: SourceFile, func: ast.AST, graders: set[str]) -> bool:
    """`func` is a name bound to a value_and_grad, or `mx.value_and_grad(f)` called in
    place (`(loss, aux), grads = mx.value_and_grad(loss_fn)(params, ...)`: fresh229
    `knightpolicy_l2dict`)."""
    return isinstance(func, ast.Name) and func.id in graders or isinstance(
        func, ast.Call) and source.imports.resolve(func.func) in GRADS


def is_tree(source: SourceFile, node: ast.AST, named: set[str]) -> bool:
    """`node` is a parameter or gradient tree: a tree call, or a name its scope binds to one
    (`tree_names`)."""
    if tree_call(source, node):
        return True
    scope = source.enclosing(node) or source.tree
    return isinstance(node, ast.Name) and (node.id in tree_names(source, scope, named) or
                                           node.id in passed_trees(source, scope, named))


def passed_trees(source: SourceFile, function: ast.AST, named: set[str]) -> set[str]:
    """The parameters of a module function, or of a method only ever called, that every call
    of it hands a tree its caller holds (`clip_gradients(grads, 1.0)` after `loss, grads =
    loss_and_grad(...)`: fresh367 `quarry_ledger_clipnest`, llm-from-scratch 729e80e;
    `ctx.accumulate(grads, ...)`: fresh46 `accum_nested_grads`); none when it is also used
    as a value, whose callers are then unknown."""
    return source.cached("passed_trees", function, lambda: passed_where(
        source, function, lambda call, value: _held_tree(source, call, value, named)))


def _held_tree(source: SourceFile, call: ast.Call, value: ast.AST, named: set[str]) -> bool:
    """`value`, handed at `call`, is a tree call or a name the caller binds to a tree."""
    return tree_call(source, value) or isinstance(value, ast.Name) and value.id in tree_names(
        source, source.enclosing(call) or source.tree, named)


def used_as_array(nodes: list[ast.AST], names: set[str]) -> bool:
    """One of `names` is an operand of arithmetic or the receiver of an array method."""
    for node in nodes:
        if isinstance(node, ast.BinOp) and (bare(node.left, names) or bare(node.right, names)):
            return True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in names and (node.attr in ARRAY_METHODS
                                            or isinstance(node.ctx, ast.Store)):
            return True  # an array method, or an attribute set on it (PyTorch's
            # `param.requires_grad = False` habit: a str takes no attribute)
    return False


def bare(node: ast.AST, names: set[str]) -> bool:
    return isinstance(node, ast.Name) and node.id in names


def iterations(source: SourceFile) -> Iterator[tuple[ast.AST, ast.AST, list[ast.AST]]]:
    """(the iterable, the loop target, the nodes that use it) of each `for` and generator."""
    for loop in source.of_type(ast.For):
        yield loop.iter, loop.target, [n for s in loop.body for n in ast.walk(s)]
    for comp in source.of_type(ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp):
        parts = [comp.key, comp.value] if isinstance(comp, ast.DictComp) else [comp.elt]
        used = [n for p in parts for n in ast.walk(p)]
        for gen in comp.generators:
            yield gen.iter, gen.target, used


class TreeIteratedAsLeaves(Rule):
    """MLX116: `for g in grads: total += (g * g).sum()`: iterating a dict gives its keys."""

    id = "MLX116"
    anchors = ("parameters()", "tree_map(", "grad(")

    @staticmethod
    def may_fire(text: str) -> bool:
        return (" in " in text and ("parameters()" in text or "tree_map(" in text
                                    or "grad(" in text) and ITERATED.search(text) is not None
                ) or STARRED.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        named = graders(source)
        for iterable, target, used in iterations(source):
            if is_tree(source, iterable, named) and used_as_array(used, set(assigned(target))):
                yield self.hit(source, iterable)
        for star in source.of_type(ast.Starred):  # `mx.savez(path, *model.parameters())`
            if isinstance(source.parents.get(star), ast.Call) and tree_call(source, star.value):
                yield self.hit(source, star.value)
