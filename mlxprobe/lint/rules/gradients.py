"""Rules about how gradients are taken and applied: MLX003 (mx.value_and_grad over an unused
argument), MLX005 (summed micro-batch gradients never divided), MLX006 (gradient error
swallowed by a fallback), MLX010 (a gradient subtree zeroed instead of freezing).

Job: find gradient code whose update is silently zero, too large, skipped or still applied.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..dataflow import returns_of
from ..finding import Finding
from ..flow import (
    assignments,
    body_assignments,
    body_nodes,
    calls,
    helper_of,
    instances,
    method_of,
    names_in,
    self_attr,
    walk,
)
from ..names import MX_GRAD, NN_GRAD, TREE_MAP, last_name
from ..source import FUNCTIONS, LOOPS, SourceFile, descendants
from .base import TRAINS, Rule, trains
from .evaluation import is_optimizer_update

ADD = frozenset({"mlx.core.add", "operator.add"})
ZEROS = frozenset({"mlx.core.zeros_like"})
BROAD = frozenset({"Exception", "BaseException"})
SCALES = (ast.Div, ast.Mult)
EXITS = frozenset({"exit", "_exit", "abort"})
TRIES = tuple({ast.Try, getattr(ast, "TryStar", ast.Try)})  # `except*` from Python 3.11


def argnums(call: ast.Call) -> set[int] | None:
    """The differentiated positions of `mx.value_and_grad(f, argnums)`; None if not literal."""
    given = call.args[1] if len(call.args) > 1 else None
    given = next((k.value for k in call.keywords if k.arg == "argnums"), given)
    if given is None:
        return {0}
    items = given.elts if isinstance(given, (ast.Tuple, ast.List)) else [given]
    if all(isinstance(i, ast.Constant) and isinstance(i.value, int) for i in items):
        return {i.value for i in items}
    return None


def visible_function(source: SourceFile, call: ast.Call, node: ast.AST) -> ast.AST | None:
    """The lambda, or the def named by `node`, in a scope that encloses `call`. A method is
    never one: a plain name outside its class body cannot reach it (fresh149
    `towpath_dqn_outside_loss_ok`: `loss_fn = self.policy_net.loss_fn`, a bound method, was
    read as the class's `def loss_fn(self, ...)` and its `self` counted as an argument)."""
    if isinstance(node, ast.Lambda):
        return node
    if not isinstance(node, ast.Name):
        return None
    scopes = set()
    scope = source.enclosing(call)
    while scope is not None:
        scopes.add(scope)
        scope = source.enclosing(scope)
    found = [f for f in source.functions.get(node.id, []) if (
        source.enclosing(f) in scopes or source.enclosing(f) is None)
        and type(source.parents.get(f)) is not ast.ClassDef]  # a plain name is no method
    return found[0] if len(found) == 1 else None


def transformed_def(source: SourceFile, call: ast.Call) -> tuple[ast.AST, bool, set[int]] | None:
    """For `mx.value_and_grad(f, argnums)` / `mx.grad`: (f's def or lambda, whether it is a
    method with `self` bound, the differentiated positions), when all are known."""
    if source.imports.resolve(call.func) not in MX_GRAD or not call.args:
        return None
    function = visible_function(source, call, call.args[0])
    method = bound_method(source, call, call.args[0]) if function is None else None
    positions = argnums(call)
    if (function or method) is None or positions is None:
        return None
    return function or method, method is not None, positions


def bound_method(source: SourceFile, call: ast.Call, node: ast.AST) -> ast.AST | None:
    """The method `self.name` names, from inside a method of the same class (not a static
    method: its first parameter is no `self`)."""
    name = self_attr(node)
    cls = source.enclosing(call, (ast.ClassDef,)) if name else None
    method = method_of(cls, name) if cls is not None else None
    if method is None or any(last_name(d) == "staticmethod" for d in method.decorator_list):
        return None
    return method


class TakesGradients(Rule):
    """A local rule about gradient transformations: its text names `value_and_grad` or
    `grad(`."""

    anchors = ("and_grad", "grad(")
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "and_grad" in text or "grad(" in text


class MxGradUnusedArgument(TakesGradients):
    """MLX003: `mx.value_and_grad(f)` where `f` never reads the argument it differentiates."""

    id = "MLX003"

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            found = transformed_def(source, call)
            if found is None:
                continue
            function, bound, positions = found
            params = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
            params = params[1:] if bound else params  # `self` is bound
            if not params or max(positions) >= len(params):
                continue
            body = function.body if isinstance(function.body, list) else [function.body]
            used = {n.id for b in body for n in descendants(b) if isinstance(n, ast.Name)}
            if all(params[i] not in used for i in positions):
                yield self.hit(source, call)


def is_add(source: SourceFile, node: ast.AST) -> bool:
    """`mx.add`, or a lambda adding two of its own parameters (`lambda a, b: a + b`): a sum
    of two trees; `lambda g: g + sd * noise` adds to one tree (fresh241
    `platen_ink_noisegrad`, annealed gradient noise, a clean script)."""
    if isinstance(node, ast.Lambda):
        params = {a.arg for a in node.args.args}
        body = node.body
        return isinstance(body, ast.BinOp) and isinstance(body.op, ast.Add) and bool(
            params & names_in(body.left)) and bool(params & names_in(body.right)) and len(
            params & names_in(body)) >= 2
    return source.imports.resolve(node) in ADD


def adds(source: SourceFile, call: ast.Call) -> bool:
    """`tree_map(lambda a, b: a + b, ...)`, `tree_map(mx.add, ...)`: a sum, no scaling."""
    return source.imports.resolve(call.func) in TREE_MAP and bool(call.args) and is_add(
        source, call.args[0])


def sums_into(source: SourceFile, value: ast.AST, name: str, depth: int = 0) -> bool:
    """`value` adds a gradient tree into `name`: tree_map(add, name, g), or a helper doing so."""
    if isinstance(value, ast.IfExp):
        return any(sums_into(source, v, name, depth) for v in (value.body, value.orelse))
    if not isinstance(value, ast.Call) or name not in {n for a in value.args
                                                       for n in names_in(a)}:
        return False
    if source.imports.resolve(value.func) in TREE_MAP and value.args:
        return is_add(source, value.args[0])
    helper = helper_of(source, value)
    if helper is None or depth or not helper.args.args:
        return False
    returns = [n.value for n in body_nodes(source, helper) if isinstance(n, ast.Return) and n.value]
    first = helper.args.args[0].arg
    return any(sums_into(source, r, first, depth + 1) for r in returns)


def sums_by_key(value: ast.AST, name: str) -> bool:
    """`acc = {k: acc[k] + g[k] for k in acc}`: a dict comprehension adding into `name`."""
    if isinstance(value, ast.IfExp):
        return sums_by_key(value.body, name) or sums_by_key(value.orelse, name)
    return (isinstance(value, ast.DictComp) and isinstance(value.value, ast.BinOp)
            and isinstance(value.value.op, ast.Add) and name in names_in(value.value))


def applied_trees(source: SourceFile, body: list[ast.AST]) -> Iterator[tuple[ast.AST, ast.AST]]:
    """(update node, the gradient tree it applies): `optimizer.update(model, g)`, and
    `model.update(tree_map(f, params, g))` or `params = tree_map(f, params, g)` by hand."""
    for call in calls(body):
        if is_optimizer_update(source, call) and len(call.args) == 2:
            yield call, call.args[1]
        elif (isinstance(call.func, ast.Attribute) and call.func.attr == "update"
              and len(call.args) == 1 and isinstance(call.args[0], ast.Call)
              and source.imports.resolve(call.args[0].func) in TREE_MAP):
            yield from ((call, a) for a in call.args[0].args[2:])
    for target, value in assignments(body):
        if (isinstance(target, ast.Name) and isinstance(value, ast.Call)
                and source.imports.resolve(value.func) in TREE_MAP and len(value.args) > 2
                and target.id in names_in(value.args[1])):
            yield from ((value, a) for a in value.args[2:])


def accumulators(source: SourceFile, body: list[ast.AST]) -> dict[str, ast.AST]:
    """Names a loop sums gradient trees into, with the node that does it."""
    found: dict[str, ast.AST] = {}
    for target, value in assignments(body):
        if isinstance(target, ast.Name) and (sums_into(source, value, target.id)
                                             or sums_by_key(value, target.id)):
            found[target.id] = value
    for node in body:
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(
                node.target, ast.Subscript) and isinstance(node.target.value, ast.Name):
            found[node.target.value.id] = node
    return found


def divided(source: SourceFile, nodes: list[ast.AST], name: str, skip: set[ast.AST]) -> bool:
    """`name` may be scaled: a division or product, or any other call that is given it
    (but a `tree_map` that only adds it into a sum: fresh14 `b14_grad_accum_summed_sgd`)."""
    for node in nodes:
        if node in skip:
            continue
        if isinstance(node, ast.Call) and name in {n for a in (*node.args, *(
                k.value for k in node.keywords)) for n in names_in(a)} and not adds(
                    source, node):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Mult,
                                                                ast.FloorDiv)):
            if name in names_in(node):
                return True
        if isinstance(node, ast.AugAssign) and not isinstance(node.op, ast.Add):
            if name in names_in(node.target):
                return True
        if scaled_comprehension(node, name):
            return True
    return False


def scaled_addends(source: SourceFile, scope: list[ast.AST], value: ast.AST, total: str) -> bool:
    """Every gradient tree `value` adds into `total` was divided or multiplied before
    (`g = tree_map(lambda a: a / MICRO, g)`, `g = {k: v / n for k, v in g.items()}`): a sum of
    averaged terms is the mean (fresh386 `lehr_anneal_bf16`, correct: each micro-batch's
    gradients divided by 4, then `tree_map(mx.add, acc, g)`)."""
    added = {n for call in walk([value]) if isinstance(call, ast.Call)
             and source.imports.resolve(call.func) in TREE_MAP
             for a in call.args[1:] for n in names_in(a)} - {total}
    return bool(added) and all(scaled_by_assignment(source, scope, n) for n in added)


def scaled_by_assignment(source: SourceFile, scope: list[ast.AST], name: str) -> bool:
    """Some line binds `name` to a division or product holding it, to a `tree_map` of a
    lambda that divides or multiplies over it, or to a scaling comprehension over it."""
    for target, value in assignments(scope):
        if not (isinstance(target, ast.Name) and target.id == name):
            continue
        if isinstance(value, ast.BinOp) and isinstance(value.op, SCALES) and \
                name in names_in(value) or scaled_comprehension(value, name):
            return True
        if isinstance(value, ast.Call) and source.imports.resolve(value.func) in TREE_MAP \
                and value.args and isinstance(value.args[0], ast.Lambda) \
                and any(isinstance(n, ast.BinOp) and isinstance(n.op, SCALES)
                        for n in walk([value.args[0].body])) \
                and name in {n for a in value.args[1:] for n in names_in(a)}:
            return True
    return False


def scaled_comprehension(node: ast.AST, name: str) -> bool:
    """`{k: v / n for k, v in name.items()}`: a comprehension over `name` that divides or
    multiplies each element."""
    if not isinstance(node, (ast.DictComp, ast.ListComp, ast.GeneratorExp)):
        return False
    over = any(name in names_in(g.iter) for g in node.generators)
    element = node.value if isinstance(node, ast.DictComp) else node.elt
    return over and any(isinstance(n, ast.BinOp) and isinstance(n.op, SCALES)
                        for n in descendants(element))


class UnaveragedAccumulation(Rule):
    """MLX005: a gradient tree summed in the loop (tree_map(add), `+=` by key, a dict
    comprehension) reaches an update (`optimizer.update`, `model.update(tree_map(...))`, a
    rebound parameter tree) and is never divided."""

    id = "MLX005"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for loop in source.of_type(*LOOPS):
            body = body_nodes(source, loop)
            sums = accumulators(source, body)
            function = source.enclosing(loop)
            scope = body_nodes(source, function) if function else body
            for call, grads in applied_trees(source, body):
                if call in reported:
                    continue
                if isinstance(grads, ast.Name) and grads.id in sums and not divided(
                        source, scope, grads.id,
                        {*descendants(call), *descendants(sums[grads.id])}) \
                        and not scaled_addends(source, scope, sums[grads.id], grads.id) \
                        or object_sum(source, grads):
                    reported.add(call)
                    yield self.hit(source, call)


def object_sum(source: SourceFile, node: ast.AST) -> bool:
    """`acc.finalize()`, `acc` an instance of one of the file's classes whose method returns
    an attribute (`self.total`, directly or through a local name) that another of its
    methods sums gradient trees into (`self.total = tree_map(mx.add, self.total, grads)`):
    the sum, undivided (lintheld3 `a3_grad_accumulator`, spelled anew: a `GradAccumulator`
    counted its micro-batches and returned the plain sum)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)):
        return False
    cls = instances(source).get(node.func.value.id)
    method = method_of(cls, node.func.attr) if cls is not None else None
    return method is not None and any(
        summed_attribute(source, cls, name) for name in returned_attributes(source, method))


def returned_attributes(source: SourceFile, method: ast.AST) -> set[str]:
    """The `self` attributes a method returns as they are (`return self.total`, or `out =
    self.total` then `return out`)."""
    bound = {t.id: v for t, v in body_assignments(source, method) if isinstance(t, ast.Name)}
    values = [bound.get(r.id, r) if isinstance(r, ast.Name) else r for r in returns_of(method)]
    return {self_attr(v) for v in values} - {None}


def summed_attribute(source: SourceFile, cls: ast.ClassDef, name: str) -> bool:
    """A method of `cls` binds `self.<name>` to a sum of gradient trees into itself."""
    for method in cls.body:
        for target, value in assignments(body_nodes(source, method) if isinstance(
                method, FUNCTIONS) else []):
            if self_attr(target) == name and attribute_sum(source, value, name):
                return True
    return False


def attribute_sum(source: SourceFile, value: ast.AST, name: str) -> bool:
    """`tree_map(add, self.<name>, g)`, either branch of a conditional expression."""
    if isinstance(value, ast.IfExp):
        return any(attribute_sum(source, v, name) for v in (value.body, value.orelse))
    return isinstance(value, ast.Call) and source.imports.resolve(value.func) in TREE_MAP \
        and bool(value.args) and is_add(source, value.args[0]) \
        and any(self_attr(a) == name for a in value.args[1:])


def is_grad_call(source: SourceFile, call: ast.Call) -> bool:
    """A call that computes gradients: `loss_and_grad(...)`, `mx.value_and_grad(f)(...)`
    (not `mx.grad(f)` itself, which only builds the function)."""
    if isinstance(call.func, ast.Call):
        return source.imports.resolve(call.func.func) in MX_GRAD | NN_GRAD
    if source.imports.resolve(call.func) in MX_GRAD | NN_GRAD:
        return False
    name = (last_name(call.func) or "").lower()
    return "and_grad" in name or name in ("grad", "grad_fn", "vjp")


def falls_back(handler: ast.ExceptHandler) -> bool:
    """The loop goes on without the gradients: `continue`, `pass`, a `return`, or a loss."""
    nodes = list(walk(handler.body))
    if any(isinstance(n, (ast.Continue, ast.Pass, ast.Return)) for n in nodes):
        return True
    return any("loss" in (last_name(c.func) or "").lower() for c in calls(nodes))


def is_broad(handler: ast.ExceptHandler) -> bool:
    kind = handler.type
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return kind is None or any(last_name(k) in BROAD for k in kinds)


def propagates(handler: ast.ExceptHandler) -> bool:
    """The handler re-raises or ends the program."""
    nodes = list(walk(handler.body))
    return any(isinstance(n, ast.Raise) for n in nodes) or any(
        last_name(c.func) in EXITS for c in calls(nodes))


class SwallowedGradError(Rule):
    """MLX006: a broad `except` around a gradient call that neither re-raises nor exits."""

    id = "MLX006"
    anchors = ("grad", "vjp")
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("grad" in text or "vjp" in text) and "except" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(*TRIES):
            if not any(is_grad_call(source, c) for c in calls(body_nodes(source, node))):
                continue
            for handler in node.handlers:
                if is_broad(handler) and falls_back(handler) and not propagates(handler):
                    yield self.hit(source, handler)


def zeroes(source: SourceFile, node: ast.AST) -> bool:
    """`mx.zeros_like`, or a lambda returning zeros_like(g) or g * 0."""
    if isinstance(node, ast.Lambda):
        body = node.body
        if isinstance(body, ast.Call):
            return source.imports.resolve(body.func) in ZEROS
        return isinstance(body, ast.BinOp) and isinstance(body.op, ast.Mult) and any(
            isinstance(s, ast.Constant) and s.value == 0 for s in (body.left, body.right))
    return source.imports.resolve(node) in ZEROS


def decays(source: SourceFile) -> bool:
    """An optimizer of this module may move a parameter whose gradient is 0: AdamW (weight
    decay 0.01 by default) or any optimizer given a `weight_decay` other than 0; also when the
    module builds no optimizer we can see. Only decay-free optimizers (Adam, SGD, ...): False."""
    built = [c for c in source.of_type(ast.Call)
             if (source.imports.resolve(c.func) or "").startswith("mlx.optimizers.")
             and (last_name(c.func) or "")[:1].isupper()]
    return not built or any(weight_decay(c) for c in built)


def weight_decay(call: ast.Call) -> bool:
    given = next((k.value for k in call.keywords if k.arg == "weight_decay"), None)
    if given is None:
        return last_name(call.func) == "AdamW"
    return not (isinstance(given, ast.Constant) and given.value == 0)


class ZeroedGradsFreeze(Rule):
    """MLX010: `grads[k] = tree_map(mx.zeros_like, grads[k])` (or zeros_like of it)."""

    id = "MLX010"
    anchors = ("zeros_like", "* 0", "*0")
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("zeros_like" in text or "* 0" in text or "*0" in text) and "rad" in text

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks that zero a gradient and those that build an optimizer."""
        return lambda block: cls.may_fire(block) or "optim" in block or "Adam" in block

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not decays(source):
            return
        for node in source.of_type(ast.Assign):
            target, value = node.targets[0], node.value
            if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                    and "grad" in target.value.id.lower() and isinstance(value, ast.Call)):
                continue
            if self._zeroes_target(source, value, ast.unparse(target)):
                yield self.hit(source, node)
        for comp in source.of_type(ast.DictComp):
            if self._zeroes_entries(source, comp):
                yield self.hit(source, comp)

    def _zeroes_entries(self, source: SourceFile, comp: ast.DictComp) -> bool:
        """`{k: (tree_map(mx.zeros_like, v) if k in frozen else v) for k, v in grads.items()}`:
        some entries of a gradient dict rebuilt as zeros."""
        generator = comp.generators[0]
        it, target = generator.iter, generator.target
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute)
                and it.func.attr == "items" and "grad" in ast.unparse(it.func.value).lower()
                and isinstance(target, ast.Tuple) and len(target.elts) == 2):
            return False
        value = ast.unparse(target.elts[1])
        return any(isinstance(n, ast.Call) and self._zeroes_target(source, n, value)
                   for n in descendants(comp.value))

    def _zeroes_target(self, source: SourceFile, value: ast.Call, target: str) -> bool:
        same = [ast.unparse(a) == target for a in value.args]
        if source.imports.resolve(value.func) in TREE_MAP and len(value.args) == 2:
            return zeroes(source, value.args[0]) and same[1]
        return source.imports.resolve(value.func) in ZEROS and bool(same) and same[0]
