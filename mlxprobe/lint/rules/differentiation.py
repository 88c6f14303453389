"""Rules about what a gradient transformation can see, stated on the differentiated code:
MLX033 (`nn.value_and_grad(model, f)` where neither `f` nor the helpers it calls ever reach
the model: the forward pass ran outside, so every gradient is 0), MLX034 (`mx.round`,
`mx.floor` or `mx.ceil` of a scaled array, `round(w / s) * s`, on the way from a parameter to
the loss with no straight-through estimator: their gradient is 0).

Job: find differentiated code whose gradient is zero by construction, however it is named.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import arrays_in, is_array, module_classes, under
from ..finding import Finding
from ..flow import (
    HELPER_DEPTH,
    assigned,
    assignments,
    body_nodes,
    bound_arguments,
    calls,
    calls_by_name,
    helper_of,
    name_bindings,
    name_values,
    reach,
    walk,
)
from ..names import NN_GRAD, dotted
from ..source import FUNCTIONS, SourceFile, descendants
from .base import DIFFERENTIATES, Rule, differentiates
from .custom_vjp import outside_autodiff
from .gradients import visible_function


def mentions(nodes: list[ast.AST], parts: list[str]) -> bool:
    """Some node names the chain `parts` (`model`, or `self.model`)."""
    if len(parts) == 1:
        return any(isinstance(n, ast.Name) and n.id == parts[0] for n in nodes)
    return any(isinstance(n, ast.Attribute) and dotted(n) == parts for n in nodes)


def aliases(source: SourceFile, parts: list[str]) -> set[str]:
    """Names bound anywhere in the module to the model itself (`net = model`)."""
    return {t.id for t, v in assignments(source.of_type(ast.Assign))
            if isinstance(t, ast.Name) and dotted(v) == parts}


def bound_name(source: SourceFile, call: ast.Call) -> str | None:
    """`vg` in `vg = nn.value_and_grad(model, f)`."""
    parent = source.parents.get(call)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(
            parent.targets[0], ast.Name):
        return parent.targets[0].id
    return None


def model_passed(source: SourceFile, sites: list[ast.Call] | None, parts: list[str],
                 read: set[str], params: list[str]) -> bool:
    """Some call of the gradient function hands the model over as an argument (`vg(model,
    x, y)`) that the function reads (a model passed to a parameter the loss ignores reaches
    nothing)."""
    if sites is None:
        return True  # called where we cannot see: assume it may be
    for call in sites:
        if any(isinstance(g, ast.Starred) for g in call.args) or any(
                dotted(k.value) == parts and k.arg in read for k in call.keywords):
            return True
        if any(dotted(g) == parts and (i >= len(params) or params[i] in read)
               for i, g in enumerate(call.args)):
            return True
    return False


def call_sites(source: SourceFile, transform: ast.Call) -> list[ast.Call] | None:
    """The calls of a gradient function: of the name it is bound to, or the call that runs it
    at once (`nn.value_and_grad(m, f)(m)`); None when it is neither (handed elsewhere)."""
    parent = source.parents.get(transform)
    if isinstance(parent, ast.Call) and parent.func is transform:
        return [parent]
    name = bound_name(source, transform)
    if name is None:
        return None
    return [c for c in source.of_type(ast.Call)
            if isinstance(c.func, ast.Name) and c.func.id == name]


class ModelOutsideGrad(Rule):
    """MLX033: `nn.value_and_grad(model, f)` where `f` (with the module's helpers it calls)
    never touches `model` and no call hands it over: the loss does not depend on the
    parameters value_and_grad swaps in."""

    id = "MLX033"
    anchors = ("value_and_grad(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "value_and_grad(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in NN_GRAD or len(call.args) < 2:
                continue
            parts = dotted(call.args[0])
            function = visible_function(source, call, call.args[1])
            if parts is None or function is None:
                continue
            body = function.body if isinstance(function.body, list) else [function.body]
            nodes = reach(source, body)
            names = [parts, *([a] for a in aliases(source, parts))]
            params = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
            read = {n.id for n in nodes if isinstance(n, ast.Name)}
            if not self._opaque(source, nodes) and not any(mentions(nodes, p) for p in names) \
                    and not model_passed(source, call_sites(source, call), parts, read, params):
                yield self.hit(source, call)

    def _opaque(self, source: SourceFile, nodes: list[ast.AST]) -> bool:
        """The function reads `self`, or calls something that might run the model where we
        cannot see: another module's function, a method of a global object."""
        return any(isinstance(n, ast.Name) and n.id == "self" for n in nodes) or any(
            isinstance(n, ast.Call) and not transparent(source, n) for n in nodes)


SAFE_MODULES = ("mlx.", "numpy.", "math.")
BUILTINS = frozenset({"len", "range", "float", "int", "sum", "max", "min", "abs", "zip",
                      "enumerate", "list", "dict", "tuple", "print", "isinstance", "round"})


def transparent(source: SourceFile, call: ast.Call) -> bool:
    """A call that cannot run a forward pass we do not see: an MLX, NumPy or math function,
    a builtin, the module's own function (followed), or a method of a local value."""
    resolved = source.imports.resolve(call.func) or ""
    if resolved.startswith(SAFE_MODULES) or helper_of(source, call) is not None:
        return True
    if isinstance(call.func, ast.Name):
        return call.func.id in BUILTINS
    root = call.func
    while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(root, ast.Call) and (source.imports.resolve(root.func) or "").startswith(
                SAFE_MODULES):
            return True  # a method of an array an MLX function returned: `mx.abs(x).mean()`
        root = root.func if isinstance(root, ast.Call) else root.value
    return not isinstance(root, ast.Name) or local_name(source, call, root.id)


def local_name(source: SourceFile, node: ast.AST, name: str) -> bool:
    """`name` is a parameter or a local binding of the function around `node`."""
    function = source.enclosing(node, (*FUNCTIONS, ast.Lambda))
    if function is None:
        return False
    params = {a.arg for a in (*function.args.posonlyargs, *function.args.args,
                              *function.args.kwonlyargs)}
    body = function.body if isinstance(function.body, list) else [function.body]
    return name in params or any(name in assigned(t) for t, _ in assignments(walk(body)))


STEPS = frozenset(f"mlx.core.{n}" for n in ("round", "floor", "ceil"))
STOP = frozenset({"mlx.core.stop_gradient"})


def differentiated_nodes(source: SourceFile) -> list[ast.AST]:
    """What a gradient transformation in this module runs: the functions handed to
    value_and_grad/grad and their helpers, and the `__call__` of the module's own nn.Module
    classes with the methods it calls, and any method the differentiated code calls by name
    (`model.nll(x)`); not a decoding method nothing differentiated calls (fresh25's
    `viterbi`, `sparse_logits`: argmax indices that no gradient goes through). Cached per
    module."""
    return source.cached("differentiated_nodes", source.tree, lambda: grad_region(source))


def grad_region(source: SourceFile) -> list[ast.AST]:
    found: dict[ast.AST, None] = {}
    for _, nodes in under(source, "grad"):
        found.update(dict.fromkeys(nodes))
    if found:
        called = {c.func.attr for c in calls(list(found)) if isinstance(c.func, ast.Attribute)}
        for cls in module_classes(source):
            methods = [f for f in cls.body if isinstance(f, FUNCTIONS)
                       and (f.name == "__call__" or f.name in called)]
            found.update(dict.fromkeys(reach(source, [s for f in methods for s in f.body])))
    return list(found)


def stopped(source: SourceFile, node: ast.AST) -> bool:
    """`node` sits inside an `mx.stop_gradient(...)` argument (a straight-through form)."""
    parent = source.parents.get(node)
    while parent is not None and not isinstance(parent, (*FUNCTIONS, ast.Lambda)):
        if isinstance(parent, ast.Call) and source.imports.resolve(parent.func) in STOP:
            return True
        parent = source.parents.get(parent)
    return False


def value_stopped(source: SourceFile, node: ast.AST, depth: int) -> bool:
    """`node`'s value reaches the loss only through `mx.stop_gradient` (a straight-through
    form): through the calls and operators around it (`dequantize(*quantize(w))`) it sits in
    one, or is handed to a helper that reads it only in one (`passed_stopped`), or is bound
    to a name every read of which does so, or is returned by a helper every call of which
    does so (fresh232 `ledger_tern_zeroinit_qat_ok`: the rounding in
    `quantize`, the estimator two helpers up)."""
    child, parent = node, source.parents.get(node)
    while isinstance(parent, (ast.Call, ast.BinOp, ast.Starred, ast.Tuple, ast.UnaryOp,
                              ast.Subscript)):
        if isinstance(parent, ast.Call) and source.imports.resolve(parent.func) in STOP:
            return True
        if isinstance(parent, ast.Call) and depth > 0 and passed_stopped(source, parent, child,
                                                                          depth - 1):
            return True
        child, parent = parent, source.parents.get(parent)
    function = source.enclosing(node)
    if function is None or depth <= 0:
        return False
    if isinstance(parent, ast.Return):
        sites = loss_calls(source, function)
        return bool(sites) and all(value_stopped(source, c, depth - 1) for c in sites)
    names = bound_names(parent)
    reads = [n for n in body_nodes(source, function) if isinstance(n, ast.Name)
             and n.id in names and isinstance(n.ctx, ast.Load)
             and (n.lineno, n.col_offset) > (parent.end_lineno, parent.end_col_offset)]
    return bool(reads) and all(value_stopped(source, n, depth - 1) for n in reads)


def passed_stopped(source: SourceFile, call: ast.Call, argument: ast.AST, depth: int) -> bool:
    """`argument` is handed to a module helper whose every read of that parameter is a
    straight-through form (fresh299 `trellis_ternary_kiln_ok`: `_quantize_ste(x,
    activation_quant(x))` with `return full + mx.stop_gradient(quantized - full)`)."""
    helper = helper_of(source, call)
    if helper is None:
        return False
    names = {n for n, v in bound_arguments(helper, call).items() if v is argument}
    reads = [n for n in body_nodes(source, helper) if isinstance(n, ast.Name)
             and n.id in names and isinstance(n.ctx, ast.Load)]
    return bool(reads) and all(value_stopped(source, n, depth) for n in reads)


def loss_calls(source: SourceFile, function: ast.AST) -> list[ast.Call]:
    """The calls of a module function by name that a gradient runs through (a report's
    call outside the loss is no path to it)."""
    region = source.cached("differentiated_set", source.tree,
                           lambda: set(differentiated_nodes(source)))
    return [c for c in calls_by_name(source).get(getattr(function, "name", ""), [])
            if c in region]


def bound_names(statement: ast.AST | None) -> set[str]:
    """`{x}` of `x = ...`, `{a, b}` of `a, b = ...` (every name a tuple unpacks to)."""
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
        return set()
    target = statement.targets[0]
    items = target.elts if isinstance(target, ast.Tuple) else [target]
    return {t.id for t in items if isinstance(t, ast.Name)} if all(
        isinstance(t, ast.Name) for t in items) else set()


class StepFunctionInGrad(Rule):
    """MLX034: `mx.round(w / s) * s` (or floor, ceil) of a scaled array the differentiated
    code computes from its inputs, outside any `mx.stop_gradient` and not cast to an integer
    index: the gradient through it is exactly 0, so what feeds it never trains."""

    id = "MLX034"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return any(f"{n}(" in text for n in ("round", "floor", "ceil")) and differentiates(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        seen: set[ast.AST] = set()
        for call in calls(differentiated_nodes(source)):
            if call in seen or not self._rounds(source, call):
                continue
            seen.add(call)
            if self._quantises(source, call) and self._traced(source, call) and \
                    not outside_autodiff(source, source.enclosing(call)):
                yield self.hit(source, call)

    def _rounds(self, source: SourceFile, call: ast.Call) -> bool:
        """`mx.round(...)`, `mx.floor(...)`, `mx.ceil(...)`, or `(w / s).round()`."""
        method = isinstance(call.func, ast.Attribute) and call.func.attr == "round" and (
            isinstance(call.func.value, ast.BinOp))
        return method or source.imports.resolve(call.func) in STEPS

    def _quantises(self, source: SourceFile, call: ast.Call) -> bool:
        """`round(x / s)`: a scaled array snapped to a grid and kept a float (an index
        `floor(x * n).astype(mx.int32)` is no quantisation)."""
        operand = call.func.value if not call.args and isinstance(
            call.func, ast.Attribute) else (call.args[0] if call.args else None)
        scaled = isinstance(operand, ast.BinOp)
        parent = source.parents.get(call)
        cast = isinstance(parent, ast.Attribute) and parent.attr == "astype"
        return scaled and not cast and not stopped(source, call) and not self._straight_through(
            source, call)

    @staticmethod
    def _straight_through(source: SourceFile, call: ast.Call) -> bool:
        """`wq = round(w / s) * s` read only inside `mx.stop_gradient`
        (`w + mx.stop_gradient(wq - w)`): the straight-through estimator, spelled over
        several lines or helpers."""
        return value_stopped(source, call, 2 * HELPER_DEPTH)

    def _traced(self, source: SourceFile, call: ast.Call) -> bool:
        """The operand reads the enclosing function's arguments or `self` (so it may carry
        a parameter), not only constants."""
        function = source.enclosing(call)
        if function is None:
            return False
        params = {a.arg for a in (*function.args.posonlyargs, *function.args.args)}
        operand = call.args[0] if call.args else call.func.value
        return bool(params & read_names(source, operand)
                    or self._bound_from(source, function, operand, params))

    def _bound_from(self, source: SourceFile, function: ast.AST, node: ast.AST,
                    params: set[str]) -> bool:
        bound = name_bindings(assignments(walk(function.body)))
        todo, seen = list(read_names(source, node)), set()
        while todo:
            name = todo.pop()
            if name in params:
                return True
            if name in bound and name not in seen and not host_array(source, function,
                                                                     bound[name]):
                seen.add(name)
                todo.extend(read_names(source, bound[name]))
        return False


def host_array(source: SourceFile, function: ast.AST, value: ast.AST) -> bool:
    """`mx.array(x)` of an `x` the dataflow pass does not see as an MLX array: an array made
    from host data (a NumPy copy of the weights, a list), which carries no gradient (stop 72:
    fresh245 `oxbow_sluice_calib`, AdaRound's `mx.floor(W / s)` of `W = mx.array(W_np[i])`
    beside the trained rounding offsets)."""
    return isinstance(value, ast.Call) and source.imports.resolve(
        value.func) == "mlx.core.array" and bool(value.args) and not is_array(
        source, value.args[0], arrays_in(source, function))


def read_names(source: SourceFile, node: ast.AST) -> set[str]:
    """The names `node` reads, leaving out `self` where it only reaches a private attribute
    (`self._w_fp`): MLX keeps attributes whose name starts with `_` out of `parameters()`,
    so no gradient reaches them (fresh243 `loom_bobbin_adaround_ok`: a rounding of the
    stored full-precision weights, `mx.round(self._W_fp / self._scales)`, beside the
    trained rounding offsets)."""
    return {n.id for n in descendants(node) if isinstance(n, ast.Name) and not private(
        source.parents.get(n), n)}


def private(parent: ast.AST | None, name: ast.Name) -> bool:
    return name.id == "self" and isinstance(parent, ast.Attribute) and parent.value is name \
        and parent.attr.startswith("_")


SINGULAR = frozenset({"mlx.core.sqrt", "mlx.core.rsqrt"})
CLAMPS = frozenset({"mlx.core.maximum", "mlx.core.clip"})
DEPTH = 3
TINY = 1e-6  # a clamp floor this small guards an exact 0 only


class ClampAfterSingular(Rule):
    """MLX020: `mx.maximum(mx.sqrt(d2), eps)` (or clip) where d2 is computed from a
    difference (a distance, which is exactly 0 when two points meet): the clamp guards the
    value, not the gradient, which is NaN there. A norm of one vector is left alone unless the
    floor is tiny (<= TINY: it guards an exact 0) and the clamp is not a divisor (the
    normalisation idiom `x / max(norm, eps)`), and so is a clamp outside differentiated
    code (a reward's standard deviation): no gradient there."""

    id = "MLX020"
    anchors = ("sqrt(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "sqrt(" in text and ("maximum(" in text or "clip(" in text) and differentiates(
            text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        region = set(differentiated_nodes(source))
        for call in source.of_type(ast.Call):
            if (source.imports.resolve(call.func) not in CLAMPS or not call.args
                    or call not in region):
                continue
            values = self._values(source, call)
            inner = self._resolve(call.args[0], values)
            if (isinstance(inner, ast.Call) and source.imports.resolve(inner.func) in SINGULAR
                    and inner.args and (self._difference(inner.args[0], values, DEPTH)
                                        or self._guards_zero(source, call)
                                        and not self._guarded(source, inner.args[0])
                                        and not self._divisor(source, call))):
                yield self.hit(source, call)

    @staticmethod
    def _divisor(source: SourceFile, call: ast.Call) -> bool:
        """`x / mx.maximum(mx.sqrt(...), 1e-12)`: the normalisation idiom, whose clamp guards
        the division (a norm of one vector, left alone as before)."""
        parent = source.parents.get(call)
        return isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div) and \
            parent.right is call

    @staticmethod
    def _guarded(source: SourceFile, node: ast.AST) -> bool:
        """The sqrt's own input is clamped or shifted (`mx.maximum(d2, 1e-20)`, `d2 + eps`):
        the fix, after which the outer clamp is harmless."""
        if isinstance(node, ast.Call):
            return source.imports.resolve(node.func) in CLAMPS
        return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and any(
            isinstance(side, (ast.Constant, ast.Name)) for side in (node.left, node.right))

    @staticmethod
    def _guards_zero(source: SourceFile, call: ast.Call) -> bool:
        """The clamp's floor is a tiny literal (<= TINY: `1e-10`, `mx.array(1e-10, dtype=...)`,
        or a module constant bound to one): it is there only for an exact 0, which the author
        expects, so a norm of one vector is flagged too (fresh229 `drifter_current_radius`:
        `mx.maximum(mx.sqrt(u * u + v * v), 1e-10)` of predictions that are exactly (0, 0) on
        padded rows, NaN weights from the first step)."""
        floor = call.args[1] if len(call.args) > 1 else None
        if isinstance(floor, ast.Call) and source.imports.resolve(
                floor.func) == "mlx.core.array" and floor.args:
            floor = floor.args[0]
        if isinstance(floor, ast.Name):
            bound = name_values(source, floor.id, None)
            floor = bound[0] if len(bound) == 1 else None
        return isinstance(floor, ast.Constant) and type(floor.value) is float and \
            0 < floor.value <= TINY

    def _values(self, source: SourceFile, call: ast.Call) -> dict[str, list[ast.AST]]:
        function = source.enclosing(call)
        nodes = body_nodes(source, function) if function else []
        values: dict[str, list[ast.AST]] = {}
        for target, value in assignments(nodes):
            if isinstance(target, ast.Name):
                values.setdefault(target.id, []).append(value)
        return values

    def _resolve(self, node: ast.AST, values: dict[str, list[ast.AST]]) -> ast.AST:
        """A name's single binding in the function, else the node."""
        if isinstance(node, ast.Name) and len(values.get(node.id, [])) == 1:
            return values[node.id][0]
        return node

    def _difference(self, node: ast.AST, values: dict[str, list[ast.AST]], depth: int) -> bool:
        """The value is computed from `a - b` (following local names a few levels)."""
        for n in descendants(node):
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub):
                return True
            if depth and isinstance(n, ast.Name) and any(
                    self._difference(v, values, depth - 1) for v in values.get(n.id, [])):
                return True
        return False
