"""Rules about code that runs under a transformation, stated on the dataflow facts
(`dataflow`): MLX016 (a differentiated function whose result reaches its inputs only through a
Python value or `stop_gradient`, followed into the module's own helpers with each argument's
gradient judged from what the call gives it; the arguments the transform does not
differentiate, the data, count as constants: `constant_args`), MLX017 (a gradient function
called with its differentiated argument as a keyword), MLX023 (a compiled step that updates
state it does not declare), MLX024 (an op with no gradient in differentiated code). MLX015 (an
evaluation under compile or vmap) is in `tracing`, MLX018 (a loss never reduced) in
`reduction`.

Job: find transformed functions that crash at the first step or silently give zero gradients.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import (
    COMPILE,
    NN_GRAD,
    evaluation,
    function_of,
    grad_functions,
    layer_attributes,
    module_classes,
    returns_of,
    transformed_arg,
    under,
)
from ..finding import Finding
from ..flow import (
    arguments,
    assignments,
    body_assignments,
    bound_arguments,
    bound_only,
    calls,
    defaults,
    name_bindings,
    reach,
    self_attr,
    walk,
)
from ..names import last_name
from ..source import FUNCTIONS, SourceFile, descendants
from .base import DIFFERENTIATES, Rule
from .custom_vjp import outside_autodiff
from .evaluation import is_optimizer_update
from .gradients import argnums
from .state import model_update
from .tracing import mx_compiles

CUTS = frozenset({"float", "int", "bool"})
DEPTH = 3  # levels of the module's own functions followed
STOP = frozenset({"mlx.core.stop_gradient"})


def is_cut(source: SourceFile, node: ast.AST) -> bool:
    """A call whose result carries no gradient: `.item()`, `float(x)`, `np.array(x)`,
    `mx.stop_gradient(x)`."""
    if not isinstance(node, ast.Call):
        return False
    if evaluation(source, node) in ("item", "numpy"):
        return True
    if isinstance(node.func, ast.Name) and node.func.id in CUTS and node.args:
        return True
    return source.imports.resolve(node.func) in STOP


def reaches(source: SourceFile, node: ast.AST, dead: set[str], depth: int = DEPTH) -> bool:
    """A value in `node` may carry a gradient: a live name, not only through a cut, a
    constant, a module-level constant or a module reference; through a call of one of the
    module's own functions only where that function's result does (`pinball(pred, y)`)."""
    if is_cut(source, node) or isinstance(node, ast.Constant) or (
            isinstance(node, ast.Attribute) and node.attr in SHAPES):
        return False  # `x.shape`, `x.dtype`: what an array is, never a value it carries
    if isinstance(node, ast.Name):
        return node.id not in dead | constants(source) and node.id not in source.imports.aliases
    picked = picked_result(source, node) if depth else None
    if picked is not None:
        return helper_reaches(source, picked[0], node.value, dead, depth - 1, picked[1])
    if isinstance(node, ast.Call):
        helper = function_of(source, node.func) if depth else None
        if helper is not None and not isinstance(helper, ast.Lambda):
            return helper_reaches(source, helper, node, dead, depth - 1)
        func = [] if source.imports.resolve(node.func) else [node.func]
        parts = [*func, *node.args, *(k.value for k in node.keywords)]
        return any(reaches(source, p, dead, depth) for p in parts)
    return any(reaches(source, c, dead, depth) for c in ast.iter_child_nodes(node))


def picked_result(source: SourceFile, node: ast.AST) -> tuple[ast.AST, int] | None:
    """(the module's own function, i) of `helper(...)[i]`: one result of a helper that
    returns several (`lambda b, m, x, c: losses(m, b, x, c)[1]`, fresh351
    `allotment_kiosk_dla`, correct: two models trained on the two losses one helper
    returns, the second's gradient through the second)."""
    if not (type(node) is ast.Subscript and type(node.value) is ast.Call
            and type(node.slice) is ast.Constant and type(node.slice.value) is int):
        return None
    helper = function_of(source, node.value.func)
    return None if helper is None or isinstance(helper, ast.Lambda) else (helper,
                                                                          node.slice.value)


def helper_reaches(source: SourceFile, helper: ast.AST, call: ast.Call, dead: set[str],
                   depth: int, pick: int = 0) -> bool:
    """The helper's result (its `pick`-th of a tuple it returns) carries a gradient, given
    which of its arguments do at this call (an argument left to a constant default does
    not)."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords):
        return True
    values = bound_arguments(helper, call)
    seed = {name for name, value in values.items()
            if value is not None and not reaches(source, value, dead, depth)}
    inner = dead_names(source, helper.body, seed, depth)
    return any(reaches(source, element(r, pick), inner, depth) for r in returns_of(helper))


def dead_names(source: SourceFile, body: list[ast.stmt], seed: set[str],
               depth: int = DEPTH) -> set[str]:
    """Names whose value (last bound, in source order) carries no gradient. A list that a
    value carrying one is appended to carries one from there on (fresh266
    `drift_chute_throw_sysid`: `xs = [x]` from a constant start, then `xs.append(x)` of
    each step's state computed from the differentiated parameters, `mx.stack(xs)`)."""
    dead = set(seed)
    for node in walk(body):
        for target, value in assignments((node,)):
            names = [t.id for t in (target.elts if isinstance(target, ast.Tuple) else [target])
                     if isinstance(t, ast.Name)]  # `rows, cols = np.tril_indices(n)`: both
            if reaches(source, value, dead, depth):
                dead.difference_update(names)
            else:
                dead.update(names)
        grown = appended(node)
        if grown is not None and grown[0] in dead and reaches(source, grown[1], dead, depth):
            dead.discard(grown[0])
    return dead


GROWS = frozenset({"append", "extend", "insert"})


def appended(node: ast.AST) -> tuple[str, ast.AST] | None:
    """(`xs`, the value) of `xs.append(v)`, `xs.extend(v)`, `xs.insert(i, v)`."""
    if type(node) is not ast.Call or not node.args:
        return None
    func = node.func
    if type(func) is ast.Attribute and func.attr in GROWS and type(func.value) is ast.Name:
        return func.value.id, node.args[-1]
    return None


def constants(source: SourceFile) -> set[str]:
    """Module-level names bound only to numbers or strings (`QUANTILE = 0.9`)."""
    def make() -> set[str]:
        return bound_only(assignments(source.tree.body), lambda value: isinstance(
            value, ast.Constant) or (isinstance(value, ast.UnaryOp)
                                     and isinstance(value.operand, ast.Constant)))
    return source.cached("constants", source.tree, make)


SHAPES = frozenset({"shape", "ndim", "dtype", "size"})


def unstopped_names(source: SourceFile, node: ast.AST) -> Iterator[str]:
    """The names `node` reads that may carry a gradient: outside any `mx.stop_gradient(...)`,
    not a shape (`h.shape[1]`), and not a plain setting of `self` (`self.eps`)."""
    todo = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, ast.Call) and source.imports.resolve(current.func) in STOP:
            continue
        if isinstance(current, ast.Attribute) and (current.attr in SHAPES or (
                isinstance(current.value, ast.Name) and current.value.id == "self"
                and current.attr in settings(source))):
            continue
        if isinstance(current, ast.Name):
            yield current.id
        todo.extend(ast.iter_child_nodes(current))


def settings(source: SourceFile) -> set[str]:
    """`self.x` attributes the module's nn.Module classes bind only to plain values (`self.eps
    = eps`): no MLX call, no layer, in any of their bindings."""
    def make() -> set[str]:
        kinds: dict[str, bool] = {}
        for cls in module_classes(source):
            for target, value in assignments(descendants(cls)):
                if isinstance(target, ast.Attribute):
                    plain = not any(isinstance(n, ast.Call) for n in descendants(value))
                    kinds[target.attr] = kinds.get(target.attr, True) and plain
        return {attr for attr, plain in kinds.items() if plain} - layer_attributes(source)
    return source.cached("settings", source.tree, make)


def first(node: ast.AST) -> ast.AST:
    """The loss of `return loss, aux` (value_and_grad differentiates the first output)."""
    return element(node, 0)


def element(node: ast.AST, i: int) -> ast.AST:
    """The `i`-th of a returned tuple (the whole value when it is not one that long)."""
    return node.elts[i] if isinstance(node, ast.Tuple) and len(node.elts) > i >= 0 else node


class GradientCut(Rule):
    """MLX016: every result of a differentiated function reaches its inputs only through
    `.item()`, `float()`, `np.array()` or `mx.stop_gradient`: every gradient is zero."""

    id = "MLX016"
    anchors = DIFFERENTIATES
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and ("stop_gradient" in text or ".item()" in text or "float(" in text
                                   or "array(" in text or ".tolist()" in text or "int(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function, _ in under(source, "grad"):
            body = function.body if isinstance(function.body, list) else [function.body]
            cuts = [n for n in reach(source, body) if is_cut(source, n)]
            results = [first(r) for r in returns_of(function)]
            if not cuts or not results:
                continue
            dead = dead_names(source, body, constant_args(source, function))
            if not any(reaches(source, r, dead) for r in results):
                yield self.hit(source, min(cuts, key=lambda n: evaluation(source, n) is None))


def constant_args(source: SourceFile, function: ast.AST) -> set[str]:
    """The parameters of a differentiated function that no call transforming it
    differentiates: all but the first under `nn.value_and_grad(model, f)` (it differentiates
    the model, which a user passes first), those not in `argnums` under `mx.value_and_grad`/
    `mx.grad`; none for a method, a decorated function or `argnames` (fresh238
    `fourier_tensor_svec`, cvxpylayers 9069eba: a loss over the model and three data arrays
    whose prediction went through NumPy three helpers down reached the data only)."""
    if isinstance(source.parents.get(function), ast.ClassDef):
        return set()
    params = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    found: set[str] | None = None
    for call in source.of_type(ast.Call):
        given = transformed_arg(source, call)
        if given and given[0] == "grad" and function_of(source, given[1]) is function:
            wanted = differentiated_at(source, call)
            here = {p for i, p in enumerate(params) if wanted is not None and i not in wanted}
            found = here if found is None else found & here
    return found or set()


def differentiated_at(source: SourceFile, call: ast.Call) -> set[int] | None:
    """The differentiated positions of a transforming call; None when not known."""
    if source.imports.resolve(call.func) in NN_GRAD:
        return {0}
    if any(k.arg == "argnames" for k in call.keywords):
        return None
    return argnums(call)


class GradKeywordCall(Rule):
    """MLX017: `grad_fn(params=p, x=x)` where `grad_fn = mx.value_and_grad(f)`: the
    differentiated argument is passed by keyword, so it is not a positional argument."""

    id = "MLX017"
    anchors = DIFFERENTIATES
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        functions = grad_functions(source)
        for call in source.of_type(ast.Call):
            func = call.func
            name = func.id if isinstance(func, ast.Name) else f"self.{func.attr}" if (
                isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id == "self") else ""
            if name not in functions:
                continue
            positions = argnums(functions[name])
            starred = any(isinstance(a, ast.Starred) for a in call.args) or any(
                k.arg is None for k in call.keywords)
            if positions and not starred and call.keywords and len(call.args) <= max(positions):
                yield self.hit(source, call)


def declares_state(source: SourceFile, node: ast.AST) -> bool:
    """A compile call or decorator that names captured state: `inputs=`/`outputs=`."""
    return isinstance(node, ast.Call) and any(k.arg in ("inputs", "outputs")
                                              for k in node.keywords)


def compiles(source: SourceFile, node: ast.AST) -> bool:
    """`mx.compile`, `mx.compile(...)`, `partial(mx.compile, ...)`."""
    if isinstance(node, ast.Call):
        if source.imports.resolve(node.func) in COMPILE:
            return True
        return bool(last_name(node.func) == "partial" and node.args
                    and source.imports.resolve(node.args[0]) in COMPILE)
    return source.imports.resolve(node) in COMPILE


def compile_calls(source: SourceFile) -> Iterator[tuple[ast.AST, ast.Call]]:
    """(function, `mx.compile(function, ...)` call) for each compile call on a function."""
    for call in source.of_type(ast.Call):
        if source.imports.resolve(call.func) in COMPILE and call.args:
            function = function_of(source, call.args[0])
            if function is not None and not isinstance(function, ast.Lambda):
                yield function, call


def uncaptured_compiles(source: SourceFile) -> Iterator[tuple[ast.AST, ast.AST]]:
    """(function, the decorator or call) compiled without `inputs=`/`outputs=`, unless the
    same function is compiled again with them (`@mx.compile def _step`, then `step =
    mx.compile(_step, inputs=state, outputs=state)`: the outer trace captures the state;
    fresh114 `piano_partials_allsum_warmup` trains, val error 52 -> 29 cents)."""
    calls_on = list(compile_calls(source))
    captured = {f for f, call in calls_on if declares_state(source, call)}
    for function in source.of_type(*FUNCTIONS):
        for decorator in function.decorator_list:
            if compiles(source, decorator) and not declares_state(source, decorator) \
                    and function not in captured:
                yield function, decorator
    for function, call in calls_on:
        if not declares_state(source, call) and function not in captured:
            yield function, call


class CompiledStateUncaptured(Rule):
    """MLX023: a function compiled without `inputs=`/`outputs=` updates the model or the
    optimizer (`optimizer.update`, `model.update`): the new state is not an output."""

    id = "MLX023"
    anchors = ("compile",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "compile" in text and ".update(" in text and mx_compiles(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for function, where in uncaptured_compiles(source):
            if function in reported:
                continue
            nodes = reach(source, function.body)
            if any(is_optimizer_update(source, c) or state_update(function, c)
                   for c in calls(nodes)):
                reported.add(function)
                yield self.hit(source, where)


def state_update(function: ast.AST, call: ast.Call) -> bool:
    """`model.update(tree)`, unless `tree` is the compiled function's own argument: `def
    loss(params, x, y): model.update(params); ...` computes from its input, which a cached
    call still reads, and leaves the model holding the arrays it was given (fresh258
    `millrace_sluice_scan`: its fixed twin compiles that loss and reaches val acc 1.000)."""
    if not model_update(call):
        return False
    given = call.args[0]
    return not (isinstance(given, ast.Name) and given.id in arguments(function))


NO_VJP = frozenset(f"mlx.core.linalg.{n}" for n in (
    "inv", "tri_inv", "cholesky", "cholesky_inv", "qr", "svd", "eig", "eigh", "eigvals",
    "eigvalsh", "pinv", "solve", "solve_triangular", "lu", "lu_factor"))


def differentiated(source: SourceFile) -> dict[ast.AST, list[ast.AST]]:
    """Functions run under a gradient transformation -> the nodes they run, with the
    methods of the module's own nn.Module classes they call (`m.nll(x)`, `model(x)`)."""
    methods = {f.name: f for c in module_classes(source) for f in c.body
               if isinstance(f, FUNCTIONS)}
    found: dict[ast.AST, list[ast.AST]] = {}
    for function, nodes in under(source, "grad"):
        extra: list[ast.AST] = []
        for call in calls(nodes):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else "__call__"
            if name in methods and methods[name] not in found:
                extra += reach(source, methods[name].body)
                found[methods[name]] = []
        found[function] = nodes + extra
    return found


def via_custom_vjp(source: SourceFile, call: ast.AST, nodes: list[ast.AST]) -> bool:
    """`call` sits in a helper that the differentiated code (`nodes`) calls only from
    functions MLX never differentiates (`custom_vjp.outside_autodiff`): the gradient comes
    from the hand-written VJP, never through the helper (fresh90
    `vineyard_moisture_deep_kernel_gp`: `mx.linalg.inv` in a helper of a custom NLML, called
    also by the model's prediction outside the gradient)."""
    helper = source.enclosing(call)
    name = getattr(helper, "name", None)
    uses = [c for c in calls(nodes) if isinstance(c.func, ast.Name) and c.func.id == name]
    return bool(uses) and all(outside_autodiff(source, source.enclosing(c)) for c in uses)


def _flag_over(source: SourceFile, node: ast.AST) -> str | None:
    """`flag` when `node` lies in the true branch of `if self.flag` / `a if self.flag else
    b`, the nearest such branch; None otherwise."""
    parent = source.parents.get(node)
    while parent is not None:
        flag = self_attr(parent.test) if isinstance(parent, (ast.If, ast.IfExp)) else None
        if flag and (node is parent.body if isinstance(parent, ast.IfExp)
                     else node in parent.body):
            return flag
        node, parent = parent, source.parents.get(parent)
    return None


def _not_training(source: SourceFile, node: ast.AST) -> bool:
    """`node` runs only out of training mode: in the `else` of `if self.training` (or of `a if
    self.training else b`), or under `if not self.training`; a module differentiated in
    training mode never takes that path (fresh161 `deltarecall_trainmode`'s fixed twin: a
    chunked form with `tri_inv` for evaluation, the recurrent form under training)."""
    parent = source.parents.get(node)
    while parent is not None:
        if _after_training_return(parent, node):
            return True
        if isinstance(parent, (ast.If, ast.IfExp)):
            test, negated = parent.test, False
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                test, negated = test.operand, True
            if self_attr(test) == "training":
                taken = (node is parent.body) if isinstance(parent, ast.IfExp) else (
                    node in parent.body)
                if taken == negated:
                    return True
        node, parent = parent, source.parents.get(parent)
    return False


def _after_training_return(parent: ast.AST, node: ast.AST) -> bool:
    """`node` is a statement after `if self.training: ... return ...` (no else) in the same
    body: it runs only out of training mode."""
    body = getattr(parent, "body", None)
    if not isinstance(body, list) or node not in body:
        return False
    return any(isinstance(s, ast.If) and self_attr(s.test) == "training" and not s.orelse
               and isinstance(s.body[-1], (ast.Return, ast.Raise))
               for s in body[:body.index(node)])


def _set_false(source: SourceFile, flag: str) -> bool:
    """Some assignment in the file sets `<anything>.flag = False`."""
    return any(isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
               and n.value.value is False and any(isinstance(t, ast.Attribute)
                                                 and t.attr == flag for t in n.targets)
               for n in source.of_type(ast.Assign))


def settings_args(function: ast.AST) -> set[str]:
    """Arguments whose default is a number: settings (`lam=1e-4`, `m=5`), not the arrays a
    gradient flows through (fresh276 `ringroad_wardrop_anderson_jfb`: an Anderson solver's
    ridge `lam * mx.eye(n)` added to the matrix it solves; its iterates come from
    `mx.zeros` and a map over stop_gradient-ed weights)."""
    return {name for name, d in defaults(function).items()
            if type(d) is ast.Constant and type(d.value) in (int, float)}


class NoGradientOp(Rule):
    """MLX024: an `mx.linalg` decomposition or solve (no VJP in MLX) on a differentiated
    function's inputs or a module's parameters, inside code run under value_and_grad."""

    id = "MLX024"
    anchors = ("linalg.",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "linalg." in text and "grad(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        seen: set[ast.AST] = set()
        for nodes in differentiated(source).values():
            for call in calls(nodes):
                if (call not in seen and source.imports.resolve(call.func) in NO_VJP
                        and self._on_inputs(source, call)
                        and not self._switched_off(source, call)
                        and not via_custom_vjp(source, call, nodes)):
                    seen.add(call)
                    yield self.hit(source, call)

    def _switched_off(self, source: SourceFile, call: ast.Call) -> bool:
        """The call (or each use of its method) runs only out of training mode
        (`_not_training`); or its method runs only under `if self.<flag>` (a statement or an
        expression) and the program sets that flag to False somewhere (`model.white.use_fast_path =
        False`: fresh27 `zca_fast_eigh_path_ok` turns its eigh path off at run time)."""
        function = source.enclosing(call)
        name = getattr(function, "name", None)
        uses = [n for n in source.of_type(ast.Call) if self_attr(n.func) == name]
        if _not_training(source, call) or (uses and all(_not_training(source, u) for u in uses)):
            return True
        flags = [_flag_over(source, use) for use in uses]
        return bool(flags) and None not in flags and all(_set_false(source, f) for f in flags)

    def _on_inputs(self, source: SourceFile, call: ast.Call) -> bool:
        """The operand is computed from the enclosing function's arguments (or `self`), not
        only through `mx.stop_gradient` (a covariance stopped before `eigh` has no VJP to
        ask for)."""
        function = source.enclosing(call)
        if function is None or not call.args or outside_autodiff(source, function):
            return False
        params = {a.arg for a in (*function.args.posonlyargs, *function.args.args)}
        params -= settings_args(function)
        bound = name_bindings(body_assignments(source, function))
        todo, seen = [call.args[0]], set()
        while todo:
            node = todo.pop()
            for name in unstopped_names(source, node):
                if name in params:
                    return True
                if name in bound and name not in seen:
                    seen.add(name)
                    todo.append(bound[name])
        return False
