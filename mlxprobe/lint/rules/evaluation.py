"""Rules about lazy evaluation in training loops: MLX001 (update never evaluated), MLX008
(loss arrays kept across steps un-evaluated) and MLX205 (a loss summed over a pass that does
not train, evaluated once after it).

Job: find loops whose work MLX never computes, so the graph (and memory) grows every step.

Why evaluating only the loss does not satisfy MLX001: the next step's forward pass does
evaluate the updated parameters (one step late), but not the optimizer state off that path.
Measured (mlx 0.32.4 CPU, 2026-11-22): AdamW on a Linear(8, 1), `loss.item()` every step and no
other eval: RSS +38 MB over 39,000 steps (~1 KB a step, the never-evaluated `step` counter
chain), and evaluating `optimizer.state` afterwards took 1.0 s.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import array_dict, arrays_in, contexts, is_array
from ..finding import Edit, Finding
from ..flow import (
    arguments,
    assigned,
    assignments,
    body_assignments,
    body_nodes,
    calls,
    derived,
    helper_of,
    loop_reach,
    name_values,
    names_in,
    walk,
)
from ..names import EVAL, MLX_CORE, Imports, dotted, last_name
from ..source import FUNCTIONS, LOOPS, SourceFile, descendants
from .base import TRAINS, Rule
from .base import trains as may_train

MATERIALISE = frozenset({"item", "tolist", "float", "int", "bool", "array", "asarray"})
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def steps_optimizer(call: ast.Call) -> bool:
    """`<opt...>.update(a, b)`: an `update` with two arguments on a receiver named `opt...`."""
    return optimizer_call(call, "update")


def optimizer_call(call: ast.Call, method: str) -> bool:
    """`<opt...>.<method>(a, b)`: two arguments, on a receiver named `opt...`."""
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == method and "opt" in (
        last_name(func.value) or "").lower() and len(call.args) + len(call.keywords) == 2


def is_optimizer_update(source: SourceFile, call: ast.Call) -> bool:
    """`optimizer.update(model, grads)`: an `update` with two arguments on an optimizer."""
    if not steps_optimizer(call):
        return False
    model = updated_model(call)
    return not isinstance(model, (ast.Dict, ast.List, ast.Tuple, ast.Constant))  # no params


def model_per_pass(source: SourceFile, loop: ast.AST, update: ast.Call) -> bool:
    """The loop, inside another loop, updates a model its own target names (`for k, (m, opt,
    vg) in enumerate(kilns): ... opt.update(m, g)`): each pass steps another model once, so
    no backlog grows across its passes; the loop around it is judged on its own (fresh255
    `raku_glaze_gossip_soup`, correct: four models stepped in turn, all evaluated after)."""
    model = updated_model(update)
    return isinstance(loop, ast.For) and isinstance(model, ast.Name) and (
        model.id in assigned(loop.target)) and source.enclosing(loop, LOOPS) is not None


def updated_model(call: ast.Call) -> ast.AST:
    """The model of `optimizer.update(model, grads)`, positional or keyword."""
    return call.args[0] if call.args else call.keywords[0].value


def evals(source: SourceFile, nodes: list[ast.AST]) -> list[ast.Call]:
    return [c for c in calls(nodes) if source.imports.resolve(c.func) in EVAL]


def step_outputs(nodes: list[ast.AST]) -> set[str]:
    """Names a loop binds to a loss or gradient: `loss, grads = loss_and_grad(...)`."""
    found: set[str] = set()
    for target, value in assignments(nodes):
        call_name = last_name(value.func) if isinstance(value, ast.Call) else None
        if isinstance(target, ast.Tuple) and "grad" in (call_name or "").lower():
            found.update(assigned(target))
    return found


def covers_update(arg: ast.AST, outputs: set[str]) -> bool:
    """An eval argument that may hold parameters or state (a bare loss or grads does not)."""
    if isinstance(arg, ast.Name):
        lowered = arg.id.lower()
        return not (arg.id in outputs or "loss" in lowered or "grad" in lowered)
    return True


def loss_read_each_step(source: SourceFile, loop: ast.AST, outputs: set[str]) -> bool:
    """The loop reads its loss at every iteration, outside any branch: `total +=
    loss.item()`, `float(loss)`, `mx.eval(loss)`. The next step's loss is computed from the
    updated parameters, so reading it runs the previous update: the lazy graph never holds
    more than one step (fresh25's `yolo_closure_no_args_ok`: `epoch_loss += loss.item()`
    each batch; the catalogue's step2-hang reads its loss only every LOG_EVERY steps)."""
    todo = list(getattr(loop, "body", []))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.If, ast.For, ast.While, *FUNCTIONS, ast.ClassDef)):
            continue
        if isinstance(node, ast.Call) and read_loss(source, node, outputs):
            return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def read_loss(source: SourceFile, call: ast.Call, outputs: set[str]) -> bool:
    """`loss.item()`, `float(loss)`, `mx.eval(loss)` of a step output or a name holding
    `loss`."""
    def is_loss(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and (node.id in outputs or "loss" in node.id.lower())
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("item", "tolist"):
        return is_loss(func.value)
    if isinstance(func, ast.Name) and func.id == "float" and call.args:
        return is_loss(call.args[0])
    return source.imports.resolve(func) in EVAL and any(is_loss(a) for a in call.args)


HANDOVER_WORDS = ("eval", "valid", "save", "checkpoint", "sync")


def hands_over(source: SourceFile, nodes: list[ast.AST], update: ast.Call) -> bool:
    """A call we cannot see into that may evaluate the update: one given the optimizer (a
    checkpoint, a sync) or the object holding it (`cb.on_step_end(self)` for `self.opt`),
    or given the model by a name like `evaluate(model, ...)`."""
    optimizer = ast.unparse(update.func.value)
    model = ast.unparse(update.args[0]) if update.args else ""
    owner = (dotted(update.func.value) or [""])[0] if "." in optimizer else ""
    for call in calls(nodes):
        if source.imports.resolve(call.func) in EVAL or helper_of(source, call):
            continue
        given = [ast.unparse(a) for a in (*call.args, *(k.value for k in call.keywords))
                 if isinstance(a, (ast.Name, ast.Attribute))]
        named = (last_name(call.func) or "").lower()
        if optimizer in given or optimizer + ".state" in given or (owner and owner in given):
            return True
        if model in given and any(w in named for w in HANDOVER_WORDS):
            return True
    return False


RARE = 1000  # an evaluation only every this many steps (or more) does not bound the graph


def rare(source: SourceFile, call: ast.Call, loop: ast.AST) -> bool:
    """`call` runs only every K >= RARE steps: under `if step % K == 0` (K a number, or a
    module-level name bound once to one) inside the loop. K updates build one lazy graph
    before it runs (failure corpus fresh32 `lora_trainer_no_eval`: its only evaluations under
    `PLOT_EVERY, SAVE_EVERY = 10000, 10000`, longer than the run)."""
    parent = source.parents.get(call)
    while parent is not None and parent is not loop:
        if isinstance(parent, ast.If) and (every := interval(source, parent.test)):
            return every >= RARE
        parent = source.parents.get(parent)
    return False


def interval(source: SourceFile, test: ast.AST) -> int | None:
    """K of `x % K == 0` (K a literal or a module constant), else None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq) and isinstance(test.left, ast.BinOp)
            and isinstance(test.left.op, ast.Mod) and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == 0):
        return None
    return constant_int(source, test.left.right)


def constant_int(source: SourceFile, node: ast.AST,
                 stmts: list[ast.AST] | None = None) -> int | None:
    """An int literal, or a name bound once, to one, among `stmts` (default: the module's
    top level; a tuple assignment `A, B = 10000, 10000` included)."""
    if isinstance(node, ast.Name):
        values = [v for t, v in assignments(source.tree.body if stmts is None else stmts)
                  if isinstance(t, ast.Name) and t.id == node.id]
        node = values[0] if len(values) == 1 else None
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


class UpdateWithoutEval(Rule):
    """MLX001: `optimizer.update` reached from a loop in which nothing evaluates the update."""

    id = "MLX001"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return may_train(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for loop in source.of_type(*LOOPS):
            nodes = loop_reach(source, loop)
            for call in self._unevaluated(source, loop, nodes):
                if call not in reported:
                    reported.add(call)
                    yield self.hit(source, call, self._edit(source, loop, call))

    def _unevaluated(self, source: SourceFile, loop: ast.AST,
                     nodes: list[ast.AST]) -> list[ast.Call]:
        updates = [c for c in calls(nodes) if is_optimizer_update(source, c)]
        if not updates:
            return []
        outputs = step_outputs(nodes)
        if any(covers_update(a, outputs) for e in evals(source, nodes)
               if not rare(source, e, loop) for a in e.args):
            return []
        inner = source.enclosing(updates[0], LOOPS) or loop
        if loop is inner and model_per_pass(source, loop, updates[0]):
            return []
        if loss_read_each_step(source, inner, outputs) or read_by_helper(
                source, loop, updates[0], outputs):
            return []
        return [] if hands_over(source, nodes, updates[0]) else updates

    def _edit(self, source: SourceFile, loop: ast.AST, call: ast.Call) -> Edit | None:
        """Insert `mx.eval(model.parameters(), optimizer.state)` after a plain update line."""
        statement = source.parents.get(call)
        mx = Imports(n for n in source.tree.body if isinstance(
            n, (ast.Import, ast.ImportFrom))).alias_of(MLX_CORE)  # bound for the whole module
        model = call.args[0] if call.args else None
        if not (mx and isinstance(statement, ast.Expr) and statement in loop.body
                and model is not None and dotted(model) and dotted(call.func.value)):
            return None
        line = source.lines[statement.end_lineno - 1]
        rest = line.encode()[statement.end_col_offset:].decode(errors="ignore").strip()
        if rest and not rest.startswith("#"):
            return None
        first = source.lines[statement.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        text = (f"{indent}{mx}.eval({ast.unparse(model)}.parameters(), "
                f"{ast.unparse(call.func.value)}.state)\n")
        return Edit(statement.end_lineno + 1, 0, statement.end_lineno + 1, 0, text)


def read_by_helper(source: SourceFile, loop: ast.AST, update: ast.Call,
                   outputs: set[str]) -> bool:
    """The update sits in a helper the loop calls (a `train_step` method), and the helper
    reads its loss at every call, outside any branch: `loss_read_each_step` one call down
    (fresh261 `erbgate_denoise_cliptrainer_ok`: `mx.eval(loss)` and `return float(loss)` after
    `self.optimizer.update(...)` in `train_step`, which `train()`'s loop calls per batch)."""
    helper = source.enclosing(update)
    return helper is not None and helper is not source.enclosing(loop) and \
        source.enclosing(update, LOOPS) is None and loss_read_each_step(source, helper, outputs)


def loss_names(source: SourceFile, nodes: list[ast.AST]) -> set[str]:
    """Names a loop binds to a step's loss array: the first of `loss, g = grad_fn(...)`, or
    `loss = f(...)` (not `float(...)`/`.item()`, nor a call of the module's own function
    that returns only such values: `site_losses = replica_step(...)` returning `[l.item()
    for l in losses]`, fresh353 `ropebridge_replica_sag`)."""
    found: set[str] = set()
    for target, value in assignments(nodes):
        if not isinstance(value, ast.Call) or last_name(value.func) in MATERIALISE or \
                python_value(source, value):
            continue
        callee = (last_name(value.func) or "").lower()
        if isinstance(target, ast.Tuple) and target.elts and "grad" in callee:
            found.update(assigned(target.elts[0]))
        elif isinstance(target, ast.Name) and "loss" in target.id.lower():
            found.add(target.id)
    return found


def loss_outputs(source: SourceFile, loop: ast.AST, nodes: list[ast.AST]) -> set[str]:
    """The arrays a loss function hands back beside the loss (`ce, ntok, correct =
    loss_fn(...)`, all three arrays of the step's forward pass), as the function's dataflow
    shows them."""
    arrays = scope_arrays(source, loop)
    return {n for target, value in assignments(nodes)
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Call)
            and "loss" in (last_name(value.func) or "").lower()
            for n in assigned(target) if n in arrays}


def is_materialised(node: ast.AST) -> bool:
    """`x.item()`, `float(x)` and the like: a Python value, not an array."""
    return isinstance(node, ast.Call) and last_name(node.func) in MATERIALISE


def returned(helper: ast.AST) -> list[ast.AST]:
    return [n.value for n in walk(helper.body) if isinstance(n, ast.Return) and n.value]


def evaluated_by_helper(source: SourceFile, nodes: list[ast.AST]) -> set[str]:
    """Names bound to what a same-module function returns when every name of every value it
    returns that it binds itself is evaluated there (`mx.eval(task_model.parameters())`, then
    `return dict(task_model.parameters())`): the arrays come back computed (fresh276
    `orchard_graft_scion_reptile_ok`, Reptile's adapted task weights kept for one meta step)."""
    found: set[str] = set()
    for target, value in assignments(nodes):
        if isinstance(target, ast.Name) and isinstance(value, ast.Call) and (
                helper := source.local_function(last_name(value.func) or "")) is not None \
                and returns_evaluated(source, helper):
            found.add(target.id)
    return found


def returns_evaluated(source: SourceFile, helper: ast.AST) -> bool:
    values = returned(helper)
    bound = {n.id for n in walk(helper.body) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Store)}
    inside = {n for c in evals(source, list(walk(helper.body))) for a in c.args
              for n in names_in(a)}
    own = [names_in(v) & bound for v in values]
    return bool(values) and all(names and names <= inside for names in own)


def trains(source: SourceFile, helper: ast.AST) -> bool:
    """A same-module step function: it calls an optimizer's update."""
    return any(is_optimizer_update(source, c) for c in calls(body_nodes(source, helper)))


def step_arrays(source: SourceFile, nodes: list[ast.AST]) -> set[str]:
    """Names bound to what a same-module training step returns, unless it returns a Python
    value there (`lvalue, toks, metrics = step(batch)`), and the values of such a dict
    (`for k, v in metrics.items()`)."""
    found: set[str] = set()
    for target, value in assignments(nodes):
        helper = helper_of(source, value) if isinstance(value, ast.Call) else None
        if helper is None or not trains(source, helper):
            continue
        for result in returned(helper):
            found |= arrays_bound(source, target, result)
    return found | dict_values(nodes, found)


def bounded(source: SourceFile, loop: ast.AST, node: ast.AST) -> bool:
    """`node` runs only while the loop's counter is below a constant (`if it < 3:`): it keeps
    a fixed number of arrays, not one more each step."""
    counters = set(assigned(loop.target)) if isinstance(loop, ast.For) else set()
    parent = source.parents.get(node)
    while parent is not None and parent is not loop:
        test = parent.test if isinstance(parent, ast.If) else None
        if (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and test.left.id in counters and len(test.ops) == 1
                and isinstance(test.ops[0], (ast.Lt, ast.LtE))
                and isinstance(test.comparators[0], ast.Constant)):
            return True
        parent = source.parents.get(parent)
    return False


def yielded_arrays(source: SourceFile, loop: ast.AST) -> set[str]:
    """`for loss in train_steps(...)`: the loop's names bound to what a same-module training
    generator yields (a step's loss array, unless it yields a Python value)."""
    call = getattr(loop, "iter", None)
    helper = helper_of(source, call) if isinstance(call, ast.Call) else None
    if helper is None or not trains(source, helper):
        return set()
    yields = [n.value for n in body_nodes(source, helper) if isinstance(n, ast.Yield) and n.value]
    return {name for value in yields for name in arrays_bound(source, loop.target, value)}


def arrays_bound(source: SourceFile, target: ast.AST, result: ast.AST) -> set[str]:
    if isinstance(target, ast.Tuple) and isinstance(result, ast.Tuple):
        if len(target.elts) != len(result.elts):
            return set()
        return {n for t, r in zip(target.elts, result.elts)
                for n in arrays_bound(source, t, r)}
    if isinstance(target, ast.Name) and not python_value(source, result) and not host_dict(
            source, result):
        return {target.id}
    return set()


def host_dict(source: SourceFile, node: ast.AST) -> bool:
    """A dict literal with no array among its values (`return loss, {"loss": loss.item(),
    "accuracy": acc}` with `acc = (...).mean().item()`: fresh235
    `purser_manifest_pooling_ok`, whose loop sums those floats across steps)."""
    function = source.enclosing(node)
    return isinstance(node, ast.Dict) and function is not None and not array_dict(
        source, node, arrays_in(source, function))


def python_value(source: SourceFile, node: ast.AST) -> bool:
    """A Python value, not an array: a constant (`return None, None` on the steps that do
    not update: fresh49 corridor_dqn_exploit), `x.item()` / `float(x)`, or a call of a
    same-module function every return of which is one of those (fresh74
    otolith_stock_kfold_squareplus: `return accuracy(model, x, y), float(ce.item())` with
    `accuracy` returning `float(...)`, its results kept in a list across folds)."""
    if _plain(node) or counter(source, node):
        return True
    if isinstance(node, ast.BinOp):  # `tot / nb` of two such names (fresh255
        # `creamery_yield_fedprox_resume`: a client's mean loss over its batches, a float)
        return python_value(source, node.left) and python_value(source, node.right)
    helper = helper_of(source, node) if isinstance(node, ast.Call) else None
    results = returned(helper) if helper is not None else []
    return bool(results) and all(_plain(r) for r in results)


def counter(source: SourceFile, node: ast.AST) -> bool:
    """A name its function binds only to numbers, None or Python values read from arrays and
    steps by numbers or such values (`step = 0`, then `step += 1`; `tot += loss.item()`): no
    parameter, loop target or other binding (fresh91 `bell_strike_kfold_ckpt_graphite`: `return
    val_cents(), step` from each fold, the step count summed into an offset across folds)."""
    function = source.enclosing(node) if isinstance(node, ast.Name) else None
    if function is None or node.id in arguments(function):
        return False
    nodes = body_nodes(source, function)
    if any(node.id in assigned(b) for b in _binders(nodes)):
        return False
    values = [v for t, v in body_assignments(source, function)
              if isinstance(t, ast.Name) and t.id == node.id]
    steps = [n.value for n in nodes if isinstance(n, ast.AugAssign)
             and isinstance(n.target, ast.Name) and n.target.id == node.id]
    # `_plain`: None or a value read from an array too (`first = None`, then `first =
    # loss.item()`: fresh351 `apiary_swarm_nova`, correct, a client's first and last losses
    # returned beside its update and kept across rounds)
    return bool(values) and all(_number(v, node.id) or _plain(v) for v in values) and all(
        _number(v, node.id) or is_materialised(v) for v in steps)


def _binders(nodes: list[ast.AST]) -> Iterator[ast.AST]:
    """The targets that bind a name other than by `=` or `+=`: loops, comprehensions,
    `with ... as`, `:=`."""
    for n in nodes:
        if isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension, ast.NamedExpr)):
            yield n.target
        elif isinstance(n, ast.withitem) and n.optional_vars is not None:
            yield n.optional_vars


def _number(node: ast.AST, name: str) -> bool:
    """A number, or arithmetic of numbers and `name` itself (`step + 1`)."""
    if isinstance(node, ast.BinOp):
        return _number(node.left, name) and _number(node.right, name)
    if isinstance(node, ast.Name):
        return node.id == name
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _plain(node: ast.AST) -> bool:
    """A constant, a value read from an array, or a list of such values (`[l.item() for l
    in losses]`: fresh353 `ropebridge_replica_sag`, correct, each replica's loss as a float
    returned from its step and kept in a report window)."""
    if isinstance(node, ast.ListComp):
        return _plain(node.elt)
    if isinstance(node, (ast.List, ast.Tuple)):
        return all(_plain(e) for e in node.elts)
    return isinstance(node, ast.Constant) or is_materialised(node)


def dict_values(nodes: list[ast.AST], dicts: set[str]) -> set[str]:
    """`v` of `for k, v in d.items()` / `for v in d.values()` over one of `dicts`."""
    found: set[str] = set()
    for node in nodes:
        if not (isinstance(node, ast.For) and isinstance(node.iter, ast.Call)):
            continue
        method, owner = last_name(node.iter.func), getattr(node.iter.func, "value", None)
        if not (isinstance(owner, ast.Name) and owner.id in dicts):
            continue
        if method == "items" and isinstance(node.target, ast.Tuple) and len(
                node.target.elts) == 2:
            found |= set(assigned(node.target.elts[1]))
        elif method == "values":
            found |= set(assigned(node.target))
    return found


def materialised(source: SourceFile, nodes: list[ast.AST]) -> set[str]:
    """Names that are `.item()`-ed, `float()`-ed or the like somewhere in the loop (not a
    comprehension's own variable of the same name: `{k: v.item() for k, v in d.items()}`)."""
    found: set[str] = set()
    for call in calls(nodes):
        if isinstance(call.func, ast.Attribute) and call.func.attr in MATERIALISE:
            found |= names_in(call.func.value) - comprehension_names(source, call)
        elif last_name(call.func) in MATERIALISE:
            found |= {n for a in call.args for n in names_in(a)} - comprehension_names(
                source, call)
    return found | formatted(nodes)


def formatted(nodes: list[ast.AST]) -> set[str]:
    """Names formatted into an f-string (`f"{n_tokens / dt:.1f}"`): formatting an array
    evaluates it, so what is summed between two such prints is bounded (not a name only
    counted there: `{len(losses)}`)."""
    return {n for node in nodes if isinstance(node, ast.FormattedValue)
            for n in names_in(node.value) - counted(node.value)}


def counted(node: ast.AST) -> set[str]:
    return {n for c in descendants(node) if isinstance(c, ast.Call) and last_name(c.func) == "len"
            for a in c.args for n in names_in(a)}


def element_only(nodes: list[ast.AST]) -> set[str]:
    """Names materialised in the loop only one element at a time (`losses[-1].item()`: the
    last array of a list; the others stay unevaluated)."""
    whole, element = set(), set()
    for call in calls(nodes):
        if isinstance(call.func, ast.Attribute) and call.func.attr in MATERIALISE:
            target = call.func.value
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                element.add(target.value.id)
            else:
                whole |= names_in(target)
    return element - whole


def comprehension_names(source: SourceFile, node: ast.AST) -> set[str]:
    """The names bound by the comprehensions around `node` (in its own statement)."""
    found: set[str] = set()
    parent = source.parents.get(node)
    while parent is not None and not isinstance(parent, ast.stmt):
        if isinstance(parent, COMPREHENSIONS):
            found |= {n for g in parent.generators for n in names_in(g.target)}
        parent = source.parents.get(parent)
    return found


def trained_arrays(source: SourceFile, loop: ast.AST, nodes: list[ast.AST]) -> set[str]:
    """In a loop that trains (a gradient step or an optimizer update), the names bound to
    arrays in its function, and the values of dicts of arrays it iterates (`for k, v in
    metrics.items()`): each step's new parameters are in their graphs."""
    if not loop_trains(source, loop):
        return set()
    arrays = scope_arrays(source, loop)
    dicts = {t.id for t, v in assignments(nodes)
             if isinstance(t, ast.Name) and array_dict(source, v, arrays)}
    return arrays | dicts | dict_values(nodes, dicts)


def loop_trains(source: SourceFile, loop: ast.AST) -> bool:
    """The loop takes a gradient step or updates with an optimizer (in it or its helpers)."""
    return bool(step_outputs(loop_reach(source, loop))) or updates(source, loop)


def scope_arrays(source: SourceFile, node: ast.AST) -> set[str]:
    return arrays_in(source, source.enclosing(node) or source.tree)


def kept_expression(source: SourceFile, loop: ast.AST, node: ast.AST,
                    safe: set[str], passes: bool = False) -> tuple[str, str] | None:
    """(container, "") of `c += <an array expression>` or `c.append(<one, or a dict of
    them>)` in a training loop, where the expression holds graph the step did not evaluate:
    `acc += (model(x).argmax(-1) == y).mean()` keeps the step's forward pass as surely as a
    named array (`total += loss * n` with `loss` evaluated keeps only scalars). With `passes`,
    in any loop, where the expression calls a loss (MLX205)."""
    added = expression_added(node)
    if added is None or isinstance(added[1], ast.Name) or not (
            loss_called(added[1]) if passes else loop_trains(source, loop)):
        return None
    arrays = scope_arrays(source, loop) | leaves(source, loop)
    value = added[1]
    if not (is_array(source, value, arrays) or array_dict(source, value, arrays)):
        return None
    return (container(added[0]), "") if pins(source, value, arrays, safe) else None


def leaves(source: SourceFile, loop: ast.AST) -> set[str]:
    """The leaf names of `for k, v in tree_flatten(tree)` in the loop: MLX's `tree_flatten`
    of parameters, gradients or optimizer state yields arrays."""
    return {n for node in body_nodes(source, loop) if isinstance(node, ast.For)
            and isinstance(node.iter, ast.Call) and last_name(node.iter.func) == "tree_flatten"
            and isinstance(node.target, ast.Tuple) and len(node.target.elts) == 2
            for n in assigned(node.target.elts[1])}


def pins(source: SourceFile, value: ast.AST, arrays: set[str], safe: set[str]) -> bool:
    """The expression computes an array (a call) or reads one nobody evaluated."""
    return any(isinstance(n, ast.Call) and is_array(source, n, arrays) or isinstance(
        n, ast.Name) and n.id in arrays and n.id not in safe for n in descendants(value))


def loss_called(value: ast.AST) -> bool:
    """The expression calls a loss (a callee whose name holds "loss"): a pass that sums
    `total = total + loss_fn(model, x, y) * n` over batches keeps every batch's forward pass
    until its one eval at the end, training or not."""
    return any(isinstance(n, ast.Call) and "loss" in (last_name(n.func) or "").lower()
               for n in descendants(value))


def expression_added(node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    """(container, value) of `c += value`, `c = c + value` or `c.append(value)`."""
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
        return node.target, node.value
    if (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.BinOp)
            and isinstance(node.value.op, ast.Add) and isinstance(node.value.left, ast.Name)
            and node.value.left.id == node.targets[0].id):
        return node.targets[0], node.value.right
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        call = node.value
        if last_name(call.func) == "append" and len(call.args) == 1 and isinstance(
                call.func, ast.Attribute):
            return call.func.value, call.args[0]
    return recurrence(node)


def recurrence(node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    """(target, the new term) of `e = e * d + v * (1 - d)` or `ema[k] = ema[k] * d + ...`: a
    sum one of whose terms reads the target itself (an exponential moving average), so each
    step's value holds the one before (fresh138 `lanternfish_ema_charlm`, parameter-golf
    b76d912: an EMA of the weights never evaluated, active memory up every step)."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], (ast.Name, ast.Subscript))
            and isinstance(node.value, ast.BinOp) and isinstance(node.value.op, ast.Add)):
        return None
    target = ast.dump(node.targets[0], annotate_fields=False).replace("Store()", "Load()")
    terms = (node.value.left, node.value.right)
    reads = [any(ast.dump(n, annotate_fields=False) == target for n in descendants(t))
             for t in terms]
    return (node.targets[0], terms[1]) if reads == [True, False] else None


def container(node: ast.AST) -> str:
    """`d` for `d`, `d[k]`, `self.d[k]`'s root `self`."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def kept(node: ast.AST) -> tuple[str, str] | None:
    """(container, value) of `c.append(v)`, `t += v` or `t = t + v` with a bare-name value
    (also as the else branch of `t = v if t is None else t + v`)."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        call = node.value
        if last_name(call.func) == "append" and len(call.args) == 1 and isinstance(
                call.args[0], ast.Name):
            return container(call.func.value), call.args[0].id
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
        if isinstance(node.value, ast.Name):
            return container(node.target), node.value.id
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.IfExp):
        return kept(ast.Assign(targets=node.targets, value=node.value.orelse))
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp):
        value, target = node.value, node.targets[0]
        if isinstance(value.op, ast.Add) and isinstance(value.right, ast.Name) and isinstance(
                target, ast.Name) and isinstance(value.left, ast.Name) and (
                value.left.id == target.id):
            return target.id, value.right.id
    return None


def reset(loop: ast.AST, keeper: ast.AST, name: str) -> bool:
    """The container is bound afresh at every step (an assignment directly in the loop body;
    one inside an `if`, every N steps, still lets it grow in between)."""
    fresh = (n for n in loop.body if isinstance(n, (ast.Assign, ast.AnnAssign)) and n is not keeper)
    return any(name in assigned(t) for n in fresh for t, _ in assignments([n]))


def reset_within(source: SourceFile, loop: ast.AST, keeper: ast.AST, name: str) -> bool:
    """`reset` by `loop` or by a loop inside it around the keeper: `xb = x[idx]` at the top
    of the batch loop makes `xb = xb + noise` a fresh array each batch, not a sum kept across
    the epochs (fresh137 `cablecar_grip_stages_compiled_restore`)."""
    node = keeper
    while node is not None and node is not loop:
        node = source.parents.get(node)
        if isinstance(node, LOOPS) and reset(node, keeper, name):
            return True
    return False


MAX_KEPT = 64  # arrays a loop of a constant count may keep for one outer iteration


def per_update(source: SourceFile, loop: ast.AST, name: str) -> bool:
    """A loop of a small constant count (`for _ in range(accum_steps)`, `accum_steps = 4`),
    inside a loop that binds the container afresh at each of its iterations: it keeps at
    most MAX_KEPT arrays, not one more each step (fresh43 `lr_setter_method_missing_ok`:
    `losses = []`, then 4 micro-batches' losses, one update; the old held-out
    `grad_accum_lazy_leak`, 4,096 micro-batches summed per update, stays a finding)."""
    outer = source.enclosing(loop, LOOPS)
    count = range_count(source, loop)
    return outer is not None and count is not None and count <= MAX_KEPT and reset(
        outer, loop, name)


def configurations(source: SourceFile, loop: ast.AST, name: str) -> bool:
    """A loop over a literal of at most MAX_KEPT items (`for seed in [11, 23, 37, 41]`: a
    few runs, seeds or branches), inside no other loop, keeping into a container its own
    function (or the module) binds: at most MAX_KEPT arrays for the whole call, not one more
    each step (fresh304 `shearing_shed_seed_study`, correct: each of four seeds' validation
    probabilities kept for an ensemble after the seeds)."""
    count = literal_count(source, loop)
    return count is not None and count <= MAX_KEPT and source.enclosing(
        loop, LOOPS) is None and bool(name_values(source, name, source.enclosing(loop)))


def evaluated_after(source: SourceFile, loop: ast.AST, name: str) -> bool:
    """A loop of at most MAX_KEPT passes (a literal or a constant range) in no other loop of
    its function, keeping into a list the function binds afresh (`losses = []`), which
    `mx.eval` is handed after the loop in that function: each call keeps a few arrays and
    evaluates them (fresh353 `ropebridge_replica_sag`, correct: four simulated replicas'
    losses kept for one averaged update, `mx.eval(..., losses)` after it)."""
    function = source.enclosing(loop)
    count = constant_passes(source, loop)
    if function is None or count is None or count > MAX_KEPT or source.enclosing(
            loop, (*LOOPS, *FUNCTIONS)) is not function:
        return False
    fresh = name_values(source, name, function)
    return bool(fresh) and all(isinstance(v, ast.List) and not v.elts for v in fresh) and any(
        e.lineno > loop.end_lineno and name in {n for a in e.args for n in names_in(a)}
        for e in evals(source, body_nodes(source, function)))


def constant_passes(source: SourceFile, loop: ast.AST) -> int | None:
    """The passes of a loop over a literal (`literal_count`) or a constant range
    (`range_count`); None when neither."""
    count = literal_count(source, loop)
    return range_count(source, loop) if count is None else count


def range_count(source: SourceFile, loop: ast.AST) -> int | None:
    """The passes of `for ... in range(N)` or `range(A, B)` when each bound is an int
    literal, a name bound once to one, or one of those plus or minus another (`range(1,
    ROUNDS + 1)`, `ROUNDS = 8`: fresh289 `tidetable_crier_onlinedpo`, eight rounds)."""
    call = getattr(loop, "iter", None)
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "range" and len(call.args) in (1, 2)):
        return None
    stmts = list(source.of_type(ast.Assign))
    bounds = [bound_int(source, a, stmts) for a in call.args]
    if None in bounds:
        return None
    return bounds[0] if len(bounds) == 1 else max(0, bounds[1] - bounds[0])


DICT_VIEWS = frozenset({"items", "keys", "values"})


def literal_count(source: SourceFile, loop: ast.AST) -> int | None:
    """The passes of a `for` loop over a literal tuple, list, set or dict (`literal_items`):
    a few configurations, seeds or branches, not a run's steps; None otherwise."""
    items = literal_items(source, getattr(loop, "iter", None), loop)
    if isinstance(items, (ast.Tuple, ast.List, ast.Set)):
        return len(items.elts)
    return len(items.keys) if isinstance(items, ast.Dict) else None


def literal_items(source: SourceFile, node: ast.AST | None, loop: ast.AST) -> ast.AST | None:
    """What a `for` loop iterates, through `enumerate(x)`, a dict's `.items()` and a name
    bound once (in its function or module) to a literal (fresh236 `ripflag_soup_correct`:
    `for k, r in enumerate(recipes)` over five fine-tuning recipes, one model each)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == "enumerate" and node.args:
        node = node.args[0]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in DICT_VIEWS and not node.args:
        node = node.func.value  # `for name, cfg in branches.items()`
    if not isinstance(node, ast.Name):
        return node
    scope = source.enclosing(loop)
    bound = name_values(source, node.id, scope)
    if not bound and scope is not None and node.id not in arguments(scope):
        bound = name_values(source, node.id, None)  # a module constant (fresh249
        # `seedvault_sprout_lwf`: `for task, fam in enumerate(FAMILIES)`, three families)
    return bound[0] if len(bound) == 1 else node


def bound_int(source: SourceFile, node: ast.AST, stmts: list[ast.AST]) -> int | None:
    """`constant_int`, also of `a + b` and `a - b` of two such."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        left, right = (constant_int(source, n, stmts) for n in (node.left, node.right))
        if left is None or right is None:
            return None
        return left + right if isinstance(node.op, ast.Add) else left - right
    return constant_int(source, node, stmts)


DATA_BUILDERS = frozenset({"concatenate", "stack", "vstack", "hstack"})


def fed_back(source: SourceFile, loop: ast.AST, name: str) -> bool:
    """The container is joined back into one array in the loop (`X = mx.concatenate(seen)`)
    that a loop inside it, which evaluates each pass, trains on: its arrays are the
    training's data, computed with each evaluated step, not results kept unevaluated
    (fresh156 `sleddog_pace_stagewarm`: a replay buffer of each stage's data, 4 stages)."""
    body = body_nodes(source, loop)
    joined = {t.id for t, v in assignments(body) if isinstance(t, ast.Name)
              and isinstance(v, ast.Call) and last_name(v.func) in DATA_BUILDERS
              and any(name in names_in(a) for a in v.args)}
    data = {d for t in joined for d in derived(loop.body, t)}
    return bool(data) and any(
        evals(source, body_nodes(source, inner)) and any(
            data & names_in(a) for c in calls(body_nodes(source, inner)) for a in c.args)
        for inner in body if isinstance(inner, LOOPS))


class LazyLossKept(Rule):
    """MLX008: a loss array appended or summed across a loop's steps, never evaluated."""

    id = "MLX008"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return may_train(text) and ("append(" in text or "+" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for loop in source.of_type(*LOOPS):
            if run_under(source, loop, {"compile"}):
                continue
            body = body_nodes(source, loop)
            losses = loss_names(source, body) | step_arrays(source, body) | trained_arrays(
                source, loop, body) | yielded_arrays(source, loop) | loss_outputs(
                source, loop, body)
            # and the values of a step's dict of metrics the loop iterates (fresh132
            # `marmot_dpo_metrics`, mlx-lm-lora 85d1227: `for k, v in metrics.items():
            # acc[k] += v`, active memory 6.7 -> 74.3 MB over 300 steps)
            losses |= dict_values(body, losses)
            if losses:
                yield from (self.hit(source, node) for node in unevaluated(
                    source, loop, body, losses, reported))


def run_under(source: SourceFile, loop: ast.AST, kinds: set[str]) -> bool:
    """The loop runs inside a function transformed by one of `kinds` (`contexts`: "grad",
    "compile", "vmap"). Under `mx.compile` nothing can be evaluated (MLX raises on an eval
    while tracing), and the compiled graph's outputs are the caller's to evaluate (fresh290
    `tallow_beacon_featdraft`, correct: a compiled step sums its micro-batches' losses and
    returns the sum, evaluated after each update); under any of the three, a sum is the
    transformed function's own output, one graph by design (fresh306 `apiary_swarm_anil`,
    correct: a meta-loss summing four tasks' query losses under `mx.value_and_grad`)."""
    function = source.enclosing(loop)
    return function is not None and bool(contexts(source).get(function, set()) & kinds)


def unevaluated(source: SourceFile, loop: ast.AST, body: list[ast.AST], losses: set[str],
                reported: set[ast.AST], passes: bool = False) -> Iterator[ast.AST]:
    """The nodes of `body` that keep or sum one of `losses` (or an array expression, in a
    training loop, or with `passes` one that calls a loss) across the loop's steps with
    nothing in the loop evaluating it; each node once over `reported`."""
    safe = (materialised(source, body) - element_only(body)) | evaluated_in(source, loop) \
        | evaluated_per_update(source, loop) | evaluated_by_helper(source, body)
    for node in body:
        hit = kept(node) or kept_expression(source, loop, node, safe, passes)
        if (hit and hit[0] and hit[1] in losses | {""} and not {*hit} & safe
                and not reset_within(source, loop, node, hit[0])
                and not bounded(source, loop, node)
                and not per_update(source, loop, hit[0])
                and not configurations(source, loop, hit[0])
                and not evaluated_after(source, loop, hit[0])
                and not fed_back(source, loop, hit[0])
                and node not in reported):
            reported.add(node)
            yield node


def evaluated_per_update(source: SourceFile, loop: ast.AST) -> set[str]:
    """For a loop that takes no step (a gradient-accumulation loop over micro-batches) inside
    a loop that does, the names the outer loop hands `mx.eval` whole (not `window[-1]` of a
    list kept across updates): a sum over one update's micro-batches evaluated with that
    update holds one update's graph, not one more per step (fresh244 `signalbox_lever_sft`,
    correct: `losses += lv * n` per micro-batch, then `mx.eval(model.parameters(),
    optimizer.state, losses, ntoks_window)` after each update)."""
    outer = source.enclosing(loop, LOOPS)
    if outer is None or source.enclosing(outer) is not source.enclosing(loop) \
            or updates(source, loop) or not updates(source, outer):
        return set()
    return {a.id for e in evals(source, loop_reach(source, outer)) for arg in e.args
            for a in (arg.elts if isinstance(arg, (ast.List, ast.Tuple)) else [arg])
            if isinstance(a, ast.Name)}


def updates(source: SourceFile, loop: ast.AST) -> bool:
    """The loop (or a helper it calls) steps an optimizer: `optimizer.update(model, grads)`,
    or `params = opt.apply_gradients(grads, params)` (fresh278 `wheel_spoke_recompute`,
    correct: micro-batch losses summed, evaluated with each `apply_gradients` step)."""
    return any(is_optimizer_update(source, c) or optimizer_call(c, "apply_gradients")
               for c in calls(loop_reach(source, loop)))


def evaluated_in(source: SourceFile, loop: ast.AST) -> set[str]:
    """Names evaluated in the loop, and the names the evaluated lists are built from."""
    nodes = loop_reach(source, loop)
    names = {n for e in evals(source, nodes) for a in e.args for n in names_in(a)}
    built = {n for t, v in assignments(nodes) if isinstance(t, ast.Name) and t.id in names
             for n in names_in(v)}
    return names | built


class LazyPassTotal(Rule):
    """MLX205: a loss summed over a pass's batches that does not train, evaluated only after
    the pass: one graph holds every batch's forward pass.

    Measured (mlx 0.32.4 CPU, failure corpus fresh192 `golfbyte_val_sum`, parameter-golf
    9a4963e): a byte LM's validation pass summed `total_loss = total_loss +
    compiled_loss(x, y) * n` over its batches and evaluated it after the loop: peak MLX
    memory during validation 69.1 MiB against 3.7 MiB with each batch's loss evaluated and
    summed as a float (the same val_loss), growing with the number of batches."""

    id = "MLX205"
    anchors = ("loss",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "loss" in text and "+" in text and may_train(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for loop in source.of_type(*LOOPS):
            body = body_nodes(source, loop)
            if any(loss_term(n) for n in body) and not loop_trains(source, loop) \
                    and not run_under(source, loop, {"grad", "compile", "vmap"}):
                yield from (self.hit(source, node) for node in unevaluated(
                    source, loop, body, set(), reported, passes=True))


def loss_term(node: ast.AST) -> bool:
    """`t += <calls a loss>`, `t = t + <...>` or `c.append(<...>)`."""
    added = expression_added(node)
    return added is not None and loss_called(added[1])
