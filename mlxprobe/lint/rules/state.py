"""Rules about training state, stated on the dataflow facts (`dataflow`): MLX014 (state
updated in a loop and never evaluated, whatever updates it), MLX019 (a randomly initialised
module array kept in a `_private` attribute, so never a parameter), MLX021 (gradients
computed in a loop and never applied). MLX020 (a clamp after `sqrt`) is in `differentiation`.

Job: find state that never trains or that grows a lazy graph, however the update is spelled.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import (
    evaluates_each_step,
    forwards,
    layer_call,
    module_classes,
    returns_of,
    transformed,
    unused_after,
)
from ..finding import Finding
from ..flow import (
    assigned,
    assignments,
    body_assignments,
    body_nodes,
    bound,
    callee,
    calls,
    helper_of,
    loop_reach,
    names_in,
    walk,
)
from ..names import MX_GRAD, TREE_MAP, dotted, last_name
from ..partial import METHOD, cut
from ..source import FUNCTIONS, LOOPS, SourceFile, descendants
from .base import TRAINS, Rule, trains
from .custom_vjp import no_gradient_at
from .evaluation import is_optimizer_update, step_outputs

MODULE_WORDS = ("model", "net", "module")


def outermost(source: SourceFile, loop: ast.AST) -> ast.AST:
    """The outermost loop around `loop` in the same function (or `loop` itself)."""
    outer, node = loop, source.parents.get(loop)
    while node is not None and not isinstance(node, (*FUNCTIONS, ast.ClassDef, ast.Lambda)):
        if isinstance(node, LOOPS):
            outer = node
        node = source.parents.get(node)
    return outer


def model_update(call: ast.Call) -> bool:
    """`model.update(tree)`: one positional tree on a receiver named like a module."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "update"):
        return False
    receiver = (last_name(call.func.value) or "").lower()
    return (len(call.args) == 1 and not call.keywords and any(w in receiver for w in MODULE_WORDS)
            and not isinstance(call.args[0], (ast.Dict, ast.DictComp, ast.Constant)))


def rebinds_tree(source: SourceFile, target: ast.AST, value: ast.AST, grads: set[str]) -> bool:
    """`p = tree_map(f, p, g)`, `p = {k: p[k] - lr * g[k] for k in p}` or `p = [w - lr * g
    for w, g in zip(p, grads)]`: a carried tree rebound from itself and the step's
    gradients."""
    if not isinstance(target, ast.Name):
        return False
    used = names_in(value)
    if target.id not in used or not (used & grads or any(map(gradient_named, used))):
        return False
    if isinstance(value, ast.Call):
        return source.imports.resolve(value.func) in TREE_MAP
    return isinstance(value, (ast.DictComp, ast.ListComp))


GRADIENT_NAMED = re.compile(r"grad(?!e)")


def reads_grads(node: ast.AST, grads: set[str], skip: frozenset[str] = frozenset()) -> bool:
    """The expression reads the step's gradients (a name the gradient call bound, or one
    named like a gradient), `skip` apart."""
    return any(n in grads or gradient_named(n) for n in names_in(node) - skip)


def numpy_helpers(source: SourceFile) -> frozenset[str]:
    """The module's functions every return of which is a NumPy call (`return np.stack(...)`):
    a gradient they give is NumPy's, stepped outside MLX (fresh358 `galactic_orbit_sympnet`,
    correct: a leapfrog integrator's `p -= 0.5 * h * grad_v(q)` making its data)."""
    def make() -> frozenset[str]:
        found = set()
        for function in source.of_type(*FUNCTIONS):
            returns = returns_of(function)
            if returns and all(isinstance(r, ast.Call) and (source.imports.resolve(
                    r.func) or "").startswith("numpy.") for r in returns):
                found.add(function.name)  # type: ignore[attr-defined]
        return frozenset(found)
    return source.cached("numpy_helpers", source.tree, make)


def gradient_named(name: str) -> bool:
    """`grads`, `g_grad`, `gradient`, not `grades` or `upgrade` (fresh189
    `ultra_pacing_reinforce_seeds`, correct: a rollout's `energy = energy - COST[a] * (1 +
    4 * climb)` with `climb` from the course's `grades` read as a hand-written descent step
    in a loop that never evaluates: MLX014)."""
    return GRADIENT_NAMED.search(name.lower()) is not None


def descent_shape(node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    """(target, step) of `p -= step` or `w = w - step` on a name, an item or an attribute."""
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Sub):
        target, step = node.target, node.value
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
            node.value, ast.BinOp) and isinstance(node.value.op, ast.Sub):
        target, step = node.targets[0], node.value.right
        if not isinstance(target, (ast.Name, ast.Subscript, ast.Attribute)) or ast.unparse(
                target) != ast.unparse(node.value.left):
            return None
    else:
        return None
    return (target, step) if isinstance(target, (ast.Name, ast.Subscript, ast.Attribute)) \
        else None


def descent_steps(source: SourceFile, nodes: list[ast.AST], grads: set[str]) -> list[ast.AST]:
    """`p -= lr * g[i]` or `w = w - lr * dw`: an array stepped against its gradient (a name
    the gradient call bound, or one bound from it in the loop), whatever the names; a
    gradient is never the target."""
    shaped = [(n, shape) for n in nodes if (shape := descent_shape(n)) is not None]
    if not shaped:
        return []
    grads = grads | gradient_names(source, nodes)
    bound: dict[str, list[ast.AST]] = {}
    for target, value in assignments(nodes):
        for name in assigned(target):
            bound.setdefault(name, []).append(value)

    skip = numpy_helpers(source)

    def from_grads(node: ast.AST) -> bool:
        names = names_in(node)
        return reads_grads(node, grads, skip) or any(
            reads_grads(v, grads, skip) for n in names for v in bound.get(n, ()))

    return [n for n, (target, step) in shaped
            if not reads_grads(target, grads) and from_grads(step)]


def gradient_names(source: SourceFile, nodes: list[ast.AST]) -> set[str]:
    """Names bound to the result of a gradient function's call: `g = step(params, x)`
    with `step = mx.grad(loss_fn)`, or `g = mx.grad(loss_fn)(params, x)`."""
    kinds = transformed(source)
    found: set[str] = set()
    for target, value in assignments(nodes):
        func = value.func if isinstance(value, ast.Call) else None
        direct = isinstance(func, ast.Call) and source.imports.resolve(func.func) in MX_GRAD
        named = isinstance(func, ast.Name) and kinds.get(func.id, ("",))[0] == "grad"
        if direct or named:
            found.update(assigned(target))
    return found


def state_updates(source: SourceFile, nodes: list[ast.AST]) -> list[ast.AST]:
    """The loop's updates of training state other than `optimizer.update` (MLX001's)."""
    grads = step_outputs(nodes)
    found: list[ast.AST] = [c for c in calls(nodes) if model_update(c)
                            and not is_optimizer_update(source, c)]
    found += [v for t, v in assignments(nodes) if rebinds_tree(source, t, v, grads)]
    found += descent_steps(source, nodes, grads)
    return found


class StateNeverEvaluated(Rule):
    """MLX014: a loop updates the parameters (`model.update(...)`, a tree rebound with
    tree_map or a comprehension, an array stepped against its gradient by hand) and nothing
    in it evaluates anything each step. A loop inside a forward (a module's `__call__`, a
    differentiated function) is left alone: an unrolled solver's `x = x - step * grad` is
    part of the one graph its caller evaluates (fresh353 `widefield_zstack_unroll_ok`,
    correct: unrolled deconvolution, a data-term gradient step per layer), and so is one in
    the module's own functions a forward calls (fresh358 `quilt_motif_attractor_resume`,
    correct: a Hopfield model's `recall`, 12 descent steps on its state, called from the
    differentiated loss)."""

    id = "MLX014"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text) and (".update(" in text or "tree_map" in text or "{" in text
                                 or "-" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        inside = called_from(source, forwards(source))
        for loop in source.of_type(*LOOPS):
            if source.enclosing(loop) in inside:
                continue  # an unrolled loop in a forward: one graph its caller evaluates
            updates = [u for u in state_updates(source, loop_reach(source, loop))
                       if u not in reported and not swaps_in(loop, u)]
            outer = outermost(source, loop)
            if updates and not evaluates_each_step(source, outer, loop_reach(source, outer)) \
                    and not self._run_by_evaluating_loop(source, outer):
                reported.update(updates)
                yield self.hit(source, updates[0])

    @staticmethod
    def _run_by_evaluating_loop(source: SourceFile, loop: ast.AST) -> bool:
        """The loop sits in a function (a hand-written optimizer's `update`, its loop over
        the parameter groups) that the module calls from a loop that evaluates each step:
        that loop's evaluation runs the updates (fresh251 `lantern_weir_muon_ok`: a Muon/AdamW
        `update` looping over its groups, called from a training loop that evaluates the
        parameters and the optimizer's state). Not a loop that takes a gradient at each pass:
        its graph grows pass by pass until the caller's evaluation (fresh3
        `microbatch_graph_no_eval`)."""
        function = source.enclosing(loop)
        if function is None or step_outputs(loop_reach(source, loop)):
            return False  # a loop that takes gradients itself (micro-batches) grows the graph
        callers = (source.enclosing(c, LOOPS) for c in source.of_type(ast.Call)
                   if helper_of(source, c) is function)
        outers = [outermost(source, loop) for loop in callers if loop is not None]
        return any(evaluates_each_step(source, o, loop_reach(source, o)) for o in outers)


def called_from(source: SourceFile, functions: list[ast.AST], depth: int = 3) -> set[ast.AST]:
    """`functions` and the module's own functions they call, `depth` calls deep."""
    found = set(functions)
    edge = list(functions)
    for _ in range(depth):
        edge = [f for f in (callee(source, c) for g in edge for c in calls(body_nodes(
            source, g))) if isinstance(f, FUNCTIONS) and f not in found]
        found.update(edge)
    return found


def swaps_in(loop: ast.AST, update: ast.AST) -> bool:
    """`for tree in snapshots: model.update(tree)`: the loop puts stored trees in, one per
    iteration (a snapshot ensemble), building no graph on the parameters before (fresh233
    `peat_rewetting_sgdr_yaml`); or a tree it draws afresh at each pass from values it does
    not carry (`theta = tree_map(lambda m, s: m + s * mx.random.normal(m.shape), mean,
    sigma); model.update(theta)`: posterior samples, each independent of the last: fresh345
    `skep_swarm_ivon`), where a descent step reads the parameters, their gradients or what
    the loop rebinds."""
    if not (isinstance(update, ast.Call) and len(update.args) == 1
            and isinstance(update.args[0], ast.Name)):
        return False
    name, target = update.args[0].id, getattr(loop, "target", None)
    own = names_in(target) if target is not None else set()
    if name in own:
        return True
    inside = list(walk(loop.body))
    carried = set().union(*map(bound, inside)) - own
    held = carried | {last_name(getattr(update.func, "value", update.func)) or ""}
    values = [v for t, v in assignments(inside) if name in assigned(t)]
    return bool(values) and not any(
        names_in(v) & held or any(map(gradient_named, names_in(v))) for v in values)


# `self._x =` or `self._x: T =` (not `==`).
PRIVATE_BINDING = re.compile(r"self\._\w+\s*(?::[^\n=]*)?=(?!=)")


def random_init(source: SourceFile, value: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and (source.imports.resolve(n.func) or "").startswith(
        "mlx.core.random.") for n in descendants(value))


def random_made(source: SourceFile, target: ast.AST, value: ast.AST) -> bool:
    """`value` draws from `mx.random`, or reads a local name of its function bound to a draw
    (`rows = mx.random.normal(...) * 0.1; self._w = mx.concatenate([pad, rows])`)."""
    if random_init(source, value):
        return True
    function = source.enclosing(target)
    if function is None:
        return False
    drawn = {t.id for t, v in body_assignments(source, function)
             if isinstance(t, ast.Name) and random_init(source, v)}
    return bool(names_in(value) & drawn)


def keyed(source: SourceFile, value: ast.AST) -> bool:
    """The draw is given its own PRNG key (`mx.random.normal(shape, key=ka)`): a fixed,
    reproducible draw the author chose, a random feature map kept out of training on purpose
    (fresh250 `saltmarsh_fog_rffgp`: random Fourier frequencies and phases beside the
    trained length scales); the weights meant to train in the corpus's cases draw from the
    global key."""
    return any(isinstance(n, ast.Call) and (source.imports.resolve(n.func) or "").startswith(
        "mlx.core.random.") and any(k.arg == "key" for k in n.keywords)
        for n in descendants(value))


class PrivateWeight(Rule):
    """MLX019: `self._w = mx.random.normal(...)` in an nn.Module, read by its methods: MLX
    leaves `_`-prefixed members out of `parameters()`, so the weight never trains."""

    id = "MLX019"
    anchors = ("self._",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "self._" in text and "random." in text

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks with a method (or function) that binds `self._x` and draws from
        `random.`: `random_made` looks for the draw in the binding's own function."""
        return lambda block: "random." in block and any(
            "random." in part and PRIVATE_BINDING.search(part) is not None
            for part in cut(block, METHOD))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        classes = {c.name for c in module_classes(source)}
        for cls in module_classes(source):
            nodes = list(descendants(cls))
            owned = [(t, parts[1], v) for t, v in assignments(nodes)
                     if (parts := dotted(t)) and len(parts) == 2 and parts[0] == "self"]
            if not self._meant_to_train(source, [(a, v) for _, a, v in owned], classes):
                continue
            for target, attr, value in owned:
                if (attr.startswith("_") and not attr.startswith("__")
                        and random_made(source, target, value) and self._read(nodes, attr)
                        and not keyed(source, value)
                        and not self._kept_up(source, owned, attr)
                        and not stated_constant(source, nodes, attr)):
                    yield self.hit(source, target)

    @staticmethod
    def _kept_up(source: SourceFile, owned: list[tuple[ast.AST, str, ast.AST]],
                 attr: str) -> bool:
        """A method other than `__init__` rebinds the attribute to a value it computes (no
        fresh draw): a buffer the module keeps up itself, as a spectral norm's power-iteration
        vector or a running statistic, never meant to train (fresh371
        `cockle_spat_contraction`, correct: `self._u = mx.random.normal((d_out,))`, then
        `self._u = u` in `power_step`)."""
        return any(a == attr and getattr(source.enclosing(t), "name", "__init__") != "__init__"
                   and not random_made(source, t, v) for t, a, v in owned)

    @staticmethod
    def _meant_to_train(source: SourceFile, owned: list[tuple[str, ast.AST]],
                        classes: set[str]) -> bool:
        """The class keeps trainable arrays of its own beside the private one (`self.bias =
        mx.zeros(...)`: a layer whose weight was meant to train), or has no trainable layer
        at all. A class whose training is all in public sub-layers keeps a private random
        array on purpose: a fixed feature map (random Fourier features, a fixed projection)."""
        public = [v for a, v in owned if not a.startswith("_")]
        def made_by(v: ast.AST, test: Callable[[ast.Call], bool]) -> bool:
            return any(isinstance(n, ast.Call) and test(n) for n in descendants(v))

        layers = [v for v in public if made_by(v, lambda c: layer_call(source, c, classes))]
        arrays = any(made_by(v, lambda c: (source.imports.resolve(c.func) or "").startswith(
            "mlx.core.")) for v in public if v not in layers)
        return arrays or not layers

    def _read(self, nodes: list[ast.AST], attr: str) -> bool:
        return any(isinstance(n, ast.Attribute) and n.attr == attr and isinstance(
            n.ctx, ast.Load) and isinstance(n.value, ast.Name) and n.value.id == "self"
            for n in nodes)


def stated_constant(source: SourceFile, nodes: list[ast.AST], attr: str) -> bool:
    """`self.attr` is handed to a custom function whose own VJP gives that argument no
    gradient (`no_gradient_at`): the program says the array is constant, and keeps it out of
    the parameters on purpose (fresh380 `orchard_feedback_align`, correct: feedback
    alignment, `fa_dense(x, self.weight, self.bias, self._back)` whose VJP returns
    `mx.zeros_like(back)` for the fixed random feedback matrix)."""
    return any(isinstance(c.func, ast.Name) and isinstance(a, ast.Attribute) and a.attr == attr
               and dotted(a.value) == ["self"] and no_gradient_at(source, c.func.id, i)
               for c in calls(nodes) for i, a in enumerate(c.args))


class GradsNeverApplied(Rule):
    """MLX021: `loss, grads = loss_and_grad(...)` in a loop, and the gradients are never
    read and nothing in the loop updates a model or optimizer."""

    id = "MLX021"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for loop in source.of_type(*LOOPS):
            nodes = loop_reach(source, loop)
            if any(last_name(c.func) in ("update", "apply_gradients") for c in calls(nodes)):
                continue
            scope = source.enclosing(loop)
            everything = body_nodes(source, scope) if scope else list(walk(source.tree.body))
            for statement in loop.body:
                yield from self._unused(source, statement, everything)

    def _unused(self, source: SourceFile, statement: ast.stmt,
                everything: list[ast.AST]) -> Iterator[Finding]:
        if not (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call)):
            return
        target = statement.targets[0]
        if not (isinstance(target, ast.Tuple) and len(target.elts) == 2):
            return
        callee = (last_name(statement.value.func) or "").lower()
        names = list(assigned(target.elts[1]))
        if "grad" in callee and names and names[0] != "_" and unused_after(
                everything, names[0], statement):
            yield self.hit(source, statement)
