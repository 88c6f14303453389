"""Rules about what MLX's training APIs give and take, stated on where a value comes from:
MLX030 (the `(grads, norm)` pair of `optim.clip_grad_norm` used whole as the gradients),
MLX098 (its clipped gradients never read: the update gets the unclipped ones),
MLX031 (a nested tree, like `optimizer.state` or `model.parameters()`, saved with
`mx.savez`/`mx.save_safetensors` without `tree_flatten`, directly, through a local name or
through a field every binding of which is one), MLX032 (an optimizer built with
`eps=0`, directly or from a config dict spread into it).

Job: find a value handed to an MLX API in a shape the API does not take.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments, helper_of, name_bindings, scope_nodes
from ..names import last_name
from ..source import SourceFile
from .base import Rule

CLIP = frozenset({"mlx.optimizers.clip_grad_norm", "mlx.optimizers.optimizers.clip_grad_norm"})


def around(source: SourceFile, node: ast.AST) -> list[ast.AST]:
    """The nodes of the function around `node`, or of the module's top level."""
    return scope_nodes(source, source.enclosing(node) or source.tree)


class ClipPairAsGrads(Rule):
    """MLX030: `grads = optim.clip_grad_norm(grads, max_norm)` (or the call handed straight
    to another call, or returned by a helper whose result is so used): the function returns
    `(clipped_grads, total_norm)`."""

    id = "MLX030"
    anchors = ("clip_grad_norm",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "clip_grad_norm" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) in CLIP and self._used_whole(source, call):
                yield self.hit(source, call)

    def _used_whole(self, source: SourceFile, call: ast.Call, depth: int = 2) -> bool:
        parent = source.parents.get(call)
        if isinstance(parent, (ast.Call, ast.keyword)):
            return True  # `optimizer.update(model, clip_grad_norm(g, 1.0))`
        if isinstance(parent, ast.Return) and depth:  # a helper hands the pair back
            function = source.enclosing(call)
            return any(helper_of(source, site) is function and self._used_whole(
                source, site, depth - 1) for site in source.of_type(ast.Call))
        if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1
                and isinstance(parent.targets[0], ast.Name)):
            return False
        name = parent.targets[0].id
        reads = [n for n in around(source, call) if isinstance(n, ast.Name)
                 and n.id == name and isinstance(n.ctx, ast.Load)]
        return any(not isinstance(source.parents.get(n), ast.Subscript) for n in reads)


# a max_norm this large only measures the norm (for a log line): nothing is clipped
MEASURE_ONLY = 1e6


class ClippedUnused(Rule):
    """MLX098: `clipped, norm = optim.clip_grad_norm(grads, max_norm)` and `clipped` never read
    again: the update gets the unclipped `grads` (mlx-examples issue 924; fresh14
    `a14_clipped_grads_unused`: heavy-tailed batches applied unclipped, max |w| 143 and every
    hidden unit dead, val mse ~2 against 0.017 with the clipped tree). `_` as the first name,
    or a max_norm of 1e6 or more (the norm measured for a log), is left alone."""

    id = "MLX098"
    anchors = ("clip_grad_norm",)
    local = True  # reads one function

    @staticmethod
    def may_fire(text: str) -> bool:
        return "clip_grad_norm" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in CLIP or measures(call):
                continue
            name = clipped_name(source, call)
            if name and not any(isinstance(n, ast.Name) and n.id == name and isinstance(
                    n.ctx, ast.Load) for n in around(source, call)):
                yield self.hit(source, call)


def clipped_name(source: SourceFile, call: ast.Call) -> str | None:
    """`clipped` of `clipped, norm = clip_grad_norm(...)` (not `_`), else None."""
    parent = source.parents.get(call)
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1
            and isinstance(parent.targets[0], ast.Tuple) and parent.targets[0].elts):
        return None
    first = parent.targets[0].elts[0]
    return first.id if isinstance(first, ast.Name) and not first.id.startswith("_") else None


def measures(call: ast.Call) -> bool:
    """A literal max_norm of MEASURE_ONLY or more."""
    given = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg == "max_norm"), None)
    return isinstance(given, ast.Constant) and isinstance(given.value, (int, float)) and (
        given.value >= MEASURE_ONLY)


SAVERS = frozenset(f"mlx.core.{n}" for n in (
    "save", "savez", "savez_compressed", "save_safetensors", "save_gguf"))
TREE_METHODS = frozenset({"parameters", "trainable_parameters", "children"})


def optimizers(source: SourceFile, kinds: frozenset[str] | None = None) -> set[str]:
    """Names bound anywhere to an `mlx.optimizers` constructor's result (of one of `kinds`,
    when given: `mlx.optimizers.AdamW`, ...)."""
    return {t.id for t, v in assignments(source.of_type(ast.Assign, ast.AnnAssign))
            if isinstance(t, ast.Name) and isinstance(v, ast.Call)
            and (made := source.imports.resolve(v.func) or "").startswith("mlx.optimizers.")
            and (kinds is None or made in kinds)}


def nested_tree(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST],
                hops: int = 1) -> bool:
    """`optimizer.state`, `model.parameters()`, `dict(...)` of one, a dict display holding one
    as a value (`{"optimizer": self.optimizer.state}`: fresh247 `pallet_dock_boxfit`,
    bert-playground c86e28f, RuntimeError std::bad_cast at the first checkpoint), or a local
    name bound to one, or a field every binding of which is one (`field_is_tree`): a tree of
    dicts and lists, not a flat mapping of names to arrays."""
    if isinstance(node, ast.Name) and node.id in bound:
        return nested_tree(source, bound.pop(node.id), bound, hops)
    if isinstance(node, ast.Dict):
        return any(v is not None and nested_tree(source, v, bound, hops) for v in node.values)
    if isinstance(node, ast.Attribute) and node.attr == "state":
        owner = last_name(node.value) or ""
        return (owner in optimizers(source) or "opt" in owner.lower()) and not own_flat_state(
            source, owner)
    if isinstance(node, ast.Attribute):
        return hops > 0 and field_is_tree(source, node.attr, hops - 1)
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Attribute) and node.func.attr in TREE_METHODS:
        return not node.args
    wraps = isinstance(node.func, ast.Name) and node.func.id == "dict" and len(node.args) == 1
    return wraps and nested_tree(source, node.args[0], bound, hops)


def own_flat_state(source: SourceFile, owner: str) -> bool:
    """`owner` is bound only to instances of a class of the module with no base class, whose
    every `self.state = ...` is a dict display of no dict or list: the program's own flat
    mapping, not an MLX optimizer's tree (fresh349 `voicing_cents_dadapt`, correct: a
    hand-written D-Adaptation SGD whose state holds `d`, `k`, `x0.<name>`, ..., saved with
    `mx.save_safetensors` and restored with `mx.load`)."""
    made = [v for t, v in assignments(source.of_type(ast.Assign, ast.AnnAssign))
            if isinstance(t, ast.Name) and t.id == owner]
    calls = [v for v in made if isinstance(v, ast.Call) and isinstance(v.func, ast.Name)]
    if not made or len(calls) != len(made):
        return False
    classes = {c.name: c for c in source.tree.body if isinstance(c, ast.ClassDef)}
    kinds = {c.func.id for c in calls}  # type: ignore[attr-defined]
    return all(k in classes and not classes[k].bases and flat_state(classes[k]) for k in kinds)


def flat_state(cls: ast.ClassDef) -> bool:
    """Every `self.state = ...` in `cls` is a dict display of no dict or list (and one is)."""
    given = [v for t, v in assignments(ast.walk(cls)) if isinstance(t, ast.Attribute)
             and t.attr == "state" and isinstance(t.value, ast.Name) and t.value.id == "self"]
    return bool(given) and all(isinstance(v, ast.Dict) and not any(
        isinstance(x, (ast.Dict, ast.List)) for x in v.values) for v in given)


def field_is_tree(source: SourceFile, field: str, hops: int) -> bool:
    """Every value the module gives the field `field`, as a keyword of a call
    (`Checkpoint(model_state=model_state)`) or an attribute (`ckpt.model_state = ...`), is a
    nested tree where it is given (fresh252 `cobbler_satchel_ledger`, your_ai 312b674: a
    dataclass field filled with `dict(model.parameters())` in one function and spread into
    `mx.savez(path, **checkpoint.model_state)` in another: RuntimeError std::bad_cast at the
    first checkpoint)."""
    given = [(k.value, k) for call in source.of_type(ast.Call) for k in call.keywords
             if k.arg == field]
    given += [(v, t) for t, v in assignments(source.of_type(ast.Assign, ast.AnnAssign))
              if isinstance(t, ast.Attribute) and t.attr == field]
    return bool(given) and all(nested_tree(source, value, names_around(source, at), hops)
                               for value, at in given)


def names_around(source: SourceFile, node: ast.AST) -> dict[str, ast.AST]:
    """The local names bound in the function around `node` (or the module's top level)."""
    return name_bindings(assignments(around(source, node)))


class NestedTreeSaved(Rule):
    """MLX031: `mx.savez(path, **optimizer.state)`, `mx.save_safetensors(path,
    model.parameters())`: the saver takes a flat name -> array mapping."""

    id = "MLX031"
    anchors = ("save",)
    # not local: a field spread into the saver may be filled in another top-level block

    @staticmethod
    def may_fire(text: str) -> bool:
        return "save" in text and (".state" in text or "parameters()" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in SAVERS:
                continue
            bound = names_around(source, call)
            given = [*call.args[1:], *(k.value for k in call.keywords if k.arg is None)]
            if any(nested_tree(source, g, dict(bound)) for g in given):
                yield self.hit(source, call)


def constant_zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and (
        node.value == 0)


def looked_up_zero(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> bool:
    """`CFG["eps"]` where `CFG` is bound to a dict literal whose `"eps"` entry is 0."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)):
        return False
    literal = dict_of(source, node.value, dict(bound))
    entry = entry_of(literal, node.slice.value) if literal is not None else None
    return entry is not None and constant_zero(entry)


def dict_of(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> ast.Dict | None:
    """The dict literal an expression reads: a name bound to one, or `CONFIG["optimizer"]`."""
    if isinstance(node, ast.Name) and node.id in bound:
        return dict_of(source, bound.pop(node.id), bound)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        outer = dict_of(source, node.value, bound)
        entry = entry_of(outer, node.slice.value) if outer is not None else None
        return dict_of(source, entry, bound) if entry is not None else None
    return node if isinstance(node, ast.Dict) else None


def entry_of(literal: ast.Dict, key: object) -> ast.AST | None:
    return next((v for k, v in zip(literal.keys, literal.values)
                 if isinstance(k, ast.Constant) and k.value == key), None)


# Where eps sits among each optimizer's positional parameters (mlx.optimizers 0.32).
EPS_POSITION = {"Adam": 2, "AdamW": 2, "Adamax": 2, "RMSprop": 2, "AdaDelta": 2, "Adagrad": 1}


class ZeroEpsilon(Rule):
    """MLX032: an `mlx.optimizers` optimizer built with `eps=0` (a keyword, or a config
    dict spread into it): a parameter whose gradient is exactly 0 updates by 0/0."""

    id = "MLX032"
    anchors = ("optimizers",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "optimizers" in text and ("eps" in text or "Ada" in text or "RMSprop" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        ordered = sorted(source.of_type(ast.Assign), key=lambda n: n.lineno)
        bound = name_bindings(assignments(ordered))
        for call in source.of_type(ast.Call):
            if not (source.imports.resolve(call.func) or "").startswith("mlx.optimizers."):
                continue
            if any(self._zero(source, k, dict(bound)) for k in call.keywords) or (
                    self._zero_positional(source, call)):
                yield self.hit(source, call)

    def _zero_positional(self, source: SourceFile, call: ast.Call) -> bool:
        """`optim.Adam(1e-3, [0.9, 0.999], 0.0)`: eps given by position."""
        name = (source.imports.resolve(call.func) or "").rsplit(".", 1)[-1]
        at = EPS_POSITION.get(name)
        return at is not None and len(call.args) > at and constant_zero(call.args[at])

    def _zero(self, source: SourceFile, keyword: ast.keyword, bound: dict) -> bool:
        if keyword.arg == "eps":
            return constant_zero(keyword.value) or looked_up_zero(source, keyword.value, bound)
        if keyword.arg is not None:
            return False
        literal = dict_of(source, keyword.value, bound)
        entry = entry_of(literal, "eps") if literal is not None else None
        return entry is not None and constant_zero(entry)
