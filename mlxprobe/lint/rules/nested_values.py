"""MLX153: the top level of a nested model's parameter or gradient tree iterated as if it were
flat: `for g in grads.values()` / `for k, g in grads.items()` using each item as an array,
where every model the file defines holds submodules. A model's tree mirrors its attributes:
a submodule is a dict, a list of layers is a list, so those items are containers, and
`g ** 2`, `g * c` or `g.sum()` on them raises (a hand-written global-norm clip, a gradient
accumulation or a weight decay written for a flat dict of arrays). The keys spell it too:
`for k in grads: acc[k] = acc[k] + grads[k]` reads each item as `grads[k]` (fresh46
`accum_nested_grads`: a gradient-accumulation class's method, handed the gradients of a model
with an encoder and a head, raised on its second micro-batch).

Measured (mlx 0.32.4 CPU): for a model holding `self.encoder = Encoder()` and
`self.heat = nn.Linear(...)`, `sum(mx.sum(g ** 2) for g in grads.values())` raises
`TypeError: unsupported operand type(s) for ** or pow(): 'dict' and 'int'` at the first step;
`tree_flatten(grads)` gives the leaves. Failure corpus fresh47 `gridbox_nested_clip_crash`
(koogle/mlx-playground 054fb72: the fix walks the tree).

Quiet where the tree may be flat or the code knows it is not: a loop that tests an item's
type (`if not isinstance(w, mx.array): continue`); a file with a model class whose
attributes are arrays only (its tree's top-level values are arrays), or with no model class
of its own (a plain dict of parameters, a model from a library).

Job: find those iterations, in a file that trains (a loop, a gradient, an update: the text
test keeps this whole-file rule off the model files of a package). Must not import: mlx,
anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes, returns_of
from ..finding import Finding
from ..flow import arguments, assignments, body_assignments, helper_of, method_of, self_attr
from ..source import SourceFile
from .base import TRAINS, Rule, trains
from .tree_iteration import (
    ARRAY_METHODS,
    bare,
    graders,
    is_tree,
    iterations,
    used_as_array,
)

FLAT_METHODS = frozenset({"values", "items"})
CORE_GRADS = frozenset({"mlx.core.value_and_grad", "mlx.core.grad"})
TREE_MAP = "mlx.utils.tree_map"
CONTAINERS = (ast.List, ast.ListComp, ast.Dict, ast.DictComp)


def nested_model_file(source: SourceFile) -> bool:
    """The file defines model classes and every root one (a class no other class of the
    file builds) holds a submodule or a list of them."""
    classes = module_classes(source)
    names = {c.name for c in classes}
    built = {n for c in classes for v in _attribute_values(c) for n in _built_names(v)}
    roots = [c for c in classes if c.name not in built]
    return bool(roots) and all(any(_holds_module(source, v, names) for v in
                                   _attribute_values(c)) for c in roots)


def _attribute_values(cls: ast.ClassDef) -> list[ast.AST]:
    """The values `__init__` assigns to `self.<name>`."""
    init = method_of(cls, "__init__")
    return [v for t, v in assignments(ast.walk(init)) if self_attr(t)] if init else []


def _built_names(value: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(value) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)}


def _holds_module(source: SourceFile, value: ast.AST, own: set[str]) -> bool:
    """A module built here: `nn.Linear(...)`, `Encoder()`, or a list of them."""
    if isinstance(value, CONTAINERS):
        return any(_holds_module(source, v, own) for v in ast.iter_child_nodes(value)
                   if isinstance(v, (ast.Call, *CONTAINERS)))
    if not isinstance(value, ast.Call):
        return False
    name = source.imports.resolve(value.func) or ""
    local = isinstance(value.func, ast.Name) and value.func.id in own
    return local or (name.startswith("mlx.nn.") and name[7:8].isupper())


def flat_items(iterable: ast.AST, target: ast.AST) -> tuple[ast.AST, set[str]] | None:
    """(the tree, the names bound to its items) for `tree.values()` or `tree.items()`."""
    if not (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute)
            and iterable.func.attr in FLAT_METHODS and not iterable.args):
        return None
    if iterable.func.attr == "values":
        return (iterable.func.value, {target.id}) if isinstance(target, ast.Name) else None
    pair = isinstance(target, ast.Tuple) and len(target.elts) == 2
    item = target.elts[1] if pair else None
    return (iterable.func.value, {item.id}) if isinstance(item, ast.Name) else None


def of_flat_dict(source: SourceFile, tree: ast.AST) -> bool:
    """`tree` is a name bound only to a plain dict of arrays, or the gradient of
    `mx.value_and_grad(f)` / `mx.grad(f)` taken with respect to one (it mirrors it), whatever
    models the file defines (fresh94 `kiln_glaze_distill_bf16`: a hand-written student kept
    as `{"w1": ..., "b1": ...}` beside a teacher with submodules)."""
    scope = source.enclosing(tree) or source.tree
    if not isinstance(tree, ast.Name):
        return False
    made = [v for t, v in body_assignments(source, scope) if isinstance(t, ast.Tuple)
            and len(t.elts) == 2 and isinstance(t.elts[1], ast.Name)
            and t.elts[1].id == tree.id and isinstance(v, ast.Call)]
    if made:
        return all(_wrt_flat_dict(source, scope, call) for call in made)
    return bound_flat(source, scope, tree.id)


def _wrt_flat_dict(source: SourceFile, scope: ast.AST, call: ast.Call) -> bool:
    """The call is of a name bound to MLX's own gradient of a function, and its first
    argument is bound only to flat dicts in `scope`."""
    core = graders(source, CORE_GRADS)
    first = call.args[0] if call.args else None
    return isinstance(call.func, ast.Name) and call.func.id in core and isinstance(
        first, ast.Name) and bound_flat(source, scope, first.id)


def bound_flat(source: SourceFile, scope: ast.AST, name: str) -> bool:
    """Every binding of `name` in `scope` is a flat dict (`_flat_dict`); a parameter of
    `scope` is bound by its callers, not shown flat."""
    if name in arguments(scope):
        return False
    values = [v for t, v in body_assignments(source, scope)
              if isinstance(t, ast.Name) and t.id == name]
    return bool(values) and all(_flat_dict(source, v, name) for v in values)


def _flat_dict(source: SourceFile, value: ast.AST, name: str) -> bool:
    """A dict literal or comprehension of non-container values, `tree_map(f, name, ...)`
    (the same structure), or a call of a same-module function that returns only such."""
    if isinstance(value, ast.Dict):
        return not any(isinstance(v, CONTAINERS) for v in value.values)
    if isinstance(value, ast.DictComp):
        return not isinstance(value.value, CONTAINERS)
    if not isinstance(value, ast.Call):
        return False
    if source.imports.resolve(value.func) == TREE_MAP:
        return any(isinstance(a, ast.Name) and a.id == name for a in value.args[1:])
    helper = helper_of(source, value)
    results = list(returns_of(helper)) if helper is not None else []
    return bool(results) and all(isinstance(r, (ast.Dict, ast.DictComp))
                                 and _flat_dict(source, r, name) for r in results)


def keyed_items(iterable: ast.AST, target: ast.AST) -> ast.Name | None:
    """The tree of `for k in tree` or `for k in tree.keys()` (a name), whose items are then
    read as `tree[k]`."""
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and \
            iterable.func.attr == "keys" and not iterable.args:
        iterable = iterable.func.value
    return iterable if isinstance(iterable, ast.Name) and isinstance(target, ast.Name) else None


def keyed_reads(used: list[ast.AST], tree: str, key: str) -> list[ast.Subscript]:
    """The reads `tree[key]` among `used`."""
    return [n for n in used if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load)
            and bare(n.value, {tree}) and bare(n.slice, {key})]


def read_as_array(source: SourceFile, reads: list[ast.Subscript]) -> bool:
    """One read is an operand of arithmetic, the receiver of an array method or an argument
    of an `mlx.core` function; none is tested for its type (`isinstance(tree[k], dict)`)."""
    around = [source.parents.get(r) for r in reads]
    if any(isinstance(p, ast.Call) and isinstance(p.func, ast.Name) and p.func.id ==
           "isinstance" for p in around):
        return False
    return any(isinstance(p, ast.BinOp) or isinstance(p, ast.Attribute) and p.attr in
               ARRAY_METHODS or isinstance(p, ast.Call) and r in p.args and (
                   source.imports.resolve(p.func) or "").startswith("mlx.core.")
               for r, p in zip(reads, around))


def filters(source: SourceFile, iterable: ast.AST) -> list[ast.AST]:
    """The nodes of a comprehension's `if` clauses over `iterable`."""
    gen = source.parents.get(iterable)
    return [n for c in getattr(gen, "ifs", []) for n in ast.walk(c)] if isinstance(
        gen, ast.comprehension) else []


def checks_type(used: list[ast.AST], names: set[str]) -> bool:
    """The loop tests an item's type (`isinstance(w, mx.array)`): it expects containers
    among the items and skips them (mlx-lm's `shard_experts_inplace`)."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
               and n.func.id == "isinstance" and n.args and isinstance(n.args[0], ast.Name)
               and n.args[0].id in names for n in used)


def fed_to_mlx(source: SourceFile, used: list[ast.AST], names: set[str]) -> bool:
    """One of `names` is an argument of an `mlx.core` function (`mx.square(p)`,
    `mx.sum(g)`): an array op given a container raises as arithmetic does (fresh229
    `knightpolicy_l2dict`, timgestson/koogle mlx-playground 95633bd: an L2 term
    `sum(mx.sum(mx.square(p)) for p in params.values())` over a model of `nn.Linear`
    layers raised `Invalid type dict received in array initialization`)."""
    return any(isinstance(n, ast.Call) and (source.imports.resolve(n.func) or "").startswith(
        "mlx.core.") and any(bare(a, names) for a in n.args) for n in used)


def part_tree(tree: ast.AST) -> bool:
    """`model.head.parameters()`: the tree of one part, maybe a single layer's flat
    `{weight, bias}` (fresh168 `abseil_descender_heat_stages` copies it with `mx.array(p)`)."""
    return isinstance(tree, ast.Call) and isinstance(tree.func, ast.Attribute) and isinstance(
        tree.func.value, ast.Attribute)


class NestedTreeIteratedFlat(Rule):
    """MLX153: `sum(mx.sum(g ** 2) for g in grads.values())` on a model with submodules."""

    id = "MLX153"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("grad" in text or "parameters()" in text) and "nn.Module" in text and (
            ".values()" in text or ".items()" in text) and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        named = graders(source)
        for iterable, target, used in iterations(source):
            tree = self._flat(source, iterable, target, used) or self._keyed(
                source, iterable, target, used)
            if tree is not None and is_tree(source, tree, named) and nested_model_file(
                    source) and not of_flat_dict(source, tree):
                yield self.hit(source, iterable)

    @staticmethod
    def _flat(source: SourceFile, iterable: ast.AST, target: ast.AST,
              used: list[ast.AST]) -> ast.AST | None:
        """The tree of `for g in grads.values()` whose items are used as arrays."""
        found = flat_items(iterable, target)
        if found is None or not (used_as_array(used, found[1]) or fed_to_mlx(
                source, used, found[1]) and not part_tree(found[0])) or checks_type(
                [*used, *filters(source, iterable)], found[1]):
            return None
        return found[0]

    @staticmethod
    def _keyed(source: SourceFile, iterable: ast.AST, target: ast.AST,
               used: list[ast.AST]) -> ast.AST | None:
        """The tree of `for k in grads: ... grads[k] + ...`."""
        tree = keyed_items(iterable, target)
        reads = keyed_reads(used, tree.id, target.id) if tree is not None else []
        return tree if reads and read_as_array(source, reads) else None
