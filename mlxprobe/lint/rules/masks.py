"""Rules about masks in differentiated code, stated on where a value comes from: MLX035
(scores filled with -inf through `mx.where` and fed to a softmax: a row with every key masked
gives NaN, forward and back). A division by a mask's count (`ce.sum() / mask.sum()`) is not a
rule: correct loops (mlx-lm's DWQ loss, the corpus's correct twins) divide the same way and
only their data keeps the count above 0.

Job: find masked softmaxes that go NaN on an empty mask.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import arguments, assignments, body_assignments, bound_arguments, names_in, walk
from ..names import last_name
from ..source import SourceFile, descendants
from .base import DIFFERENTIATES, Rule, differentiates
from .differentiation import differentiated_nodes
from .reduction import last_bindings
from .tracing import called_layer

WHERE = frozenset({"mlx.core.where"})
SOFTMAX = frozenset({"mlx.core.softmax", "mlx.nn.softmax"})
# An additive -inf mask NaNs a fully masked row here too (a boolean mask does not; measured,
# mlx 0.32.4 CPU).
CONSUMERS = SOFTMAX | {"mlx.core.fast.scaled_dot_product_attention"}
INF = frozenset({"math.inf", "mlx.core.inf", "numpy.inf"})
ARRAY = frozenset({"mlx.core.array"})
ARANGE = frozenset({"mlx.core.arange"})
DEPTH = 3


def bindings(source: SourceFile, node: ast.AST) -> dict[str, ast.AST]:
    """The last binding of each local name in the function around `node`."""
    function = source.enclosing(node)
    return last_bindings(function.body) if function is not None else {}


def minus_infinity(source: SourceFile, node: ast.AST, constants: dict[str, ast.AST]) -> bool:
    """`-math.inf`, `-mx.inf`, `float("-inf")`, `-float("inf")`, or a name bound to one."""
    if isinstance(node, ast.Name) and node.id in constants:
        return minus_infinity(source, constants.pop(node.id), constants)
    if isinstance(node, ast.Call) and source.imports.resolve(node.func) in ARRAY and node.args:
        return minus_infinity(source, node.args[0], constants)  # mx.array(-mx.inf, dtype)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = node.operand
        return source.imports.resolve(inner) in INF or infinite_float(inner, "inf")
    return infinite_float(node, "-inf")


def infinite_float(node: ast.AST, text: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
        node.func.id == "float") and len(node.args) == 1 and isinstance(
        node.args[0], ast.Constant) and str(node.args[0].value).lower() == text


def consumes(source: SourceFile, node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and source.imports.resolve(node.func) in CONSUMERS


def given(call: ast.Call) -> list[ast.AST]:
    return [*call.args, *(k.value for k in call.keywords)]


def softmaxed(source: SourceFile, where: ast.Call) -> bool:
    """The `mx.where` result reaches a softmax (or an additive attention mask) in the same
    function, through the local names it flows into (`scores = scores + bias`), or is handed
    to a layer or helper (not an `mlx.core` op, `other_op`) in a module whose differentiated
    code runs a softmax."""
    parent = source.parents.get(where)
    if consumes(source, parent):
        return True
    if not (isinstance(parent, ast.Assign) and isinstance(parent.targets[0], ast.Name)):
        return False
    function = source.enclosing(where)
    body = list(walk(function.body if function is not None else source.tree.body))
    flows = flowing(body, parent.targets[0].id, where)
    handed = [c for c in body if isinstance(c, ast.Call)
              and any(names_in(a) & flows for a in given(c)) and not other_op(source, c)]
    return any(consumes(source, c) for c in handed) or bool(handed) and any(
        consumes(source, n) for n in differentiated_nodes(source))


def other_op(source: SourceFile, call: ast.Call) -> bool:
    """An `mlx.core` op other than a softmax or fused attention: it computes a value in
    place and hands the masked scores to no layer or helper (fresh193
    `lightning_indexer_lora_ok`: `mx.argpartition` of -inf-filled scores picks the top-k
    keys, and no softmax reads them)."""
    return (source.imports.resolve(call.func) or "").startswith("mlx.core.") and not consumes(
        source, call)


def flowing(body: list[ast.AST], name: str, origin: ast.AST) -> set[str]:
    """`name` and the local names computed from it, a few bindings deep."""
    flows = {name}
    pairs = [(t.id, v) for t, v in assignments(body) if isinstance(t, ast.Name)
             and v is not origin]
    for _ in range(DEPTH):
        flows |= {n for n, value in pairs if names_in(value) & flows}
    return flows


BAND = frozenset(f"mlx.core.{n}" for n in ("tril", "triu"))


def causal_only(source: SourceFile, where: ast.Call, scope: dict[str, ast.AST]) -> bool:
    """The mask is a causal or band mask built here or in the module's `__init__`
    (`mx.tril(...)`, `arange(L)[:, None] >= arange(L)`), reading no data, and the -inf goes
    where the band is not: it keeps the diagonal, so no row is all -inf. The same mask with
    the two branches of `where` swapped masks the diagonal, and the last row is all -inf."""
    condition = where.args[0]
    function = source.enclosing(condition)
    params = {a.arg for a in function.args.args} - {"self"} if function is not None else set()
    nodes = traced(condition, {**scope, **init_bindings(source, where)})
    if not keeps_band(source, where, scope):
        return False
    data = {n.id for n in nodes if isinstance(n, ast.Name) and n.id in params
            and not shape_read(source, n)}
    for name in sorted(data):
        handed = from_callers(source, function, name, DEPTH)
        if handed is None:
            return False
        nodes = nodes + handed
    return any(isinstance(n, ast.Call) and source.imports.resolve(n.func) in BAND | ARANGE
               for n in nodes)


def from_callers(source: SourceFile, function: ast.AST, name: str,
                 depth: int) -> list[ast.AST] | None:
    """The nodes of what every call of a layer's forward in the module hands its parameter
    `name`, through the callers' own parameters `depth` layers up, when none of it reads data
    (only shapes); None when no call is seen or one hands something else (fresh306
    `quarto_folio_stanza_ok`, correct: attention's `mask` is the block's, which is the
    model's `mx.tril(mx.ones((T, T)))`)."""
    sites = [c for c in source.of_type(ast.Call) if called_layer(source, c) is function]
    if not sites or depth == 0:
        return None
    found: list[ast.AST] = []
    for call in sites:
        value, caller = bound_arguments(function, call).get(name), source.enclosing(call)
        if value is None or caller is None:
            return None
        params = arguments(caller) - {"self"}
        if isinstance(value, ast.Name) and value.id in params:
            upper = from_callers(source, caller, value.id, depth - 1)
        else:
            upper = traced(value, {**last_bindings(caller.body), **init_bindings(source, call)},
                           source)
            if any(isinstance(n, ast.Name) and n.id in params and not shape_read(source, n)
                   for n in upper):
                return None
        if upper is None:
            return None
        found += upper
    return found


ORDER = frozenset({"sort", "max", "topk", "partition"})


def keeps_top(source: SourceFile, where: ast.Call, scope: dict[str, ast.AST]) -> bool:
    """`mx.where(x >= t, x, -inf)` where `t` is an order statistic of `x` itself (its k-th
    largest by `sort`/`topk`/`partition`, or its `max`): every row keeps at least its largest
    entry, so no row is all -inf (fresh104 `depot_eta_noisy_top2`, a top-2 mixture-of-experts
    gate, `kth = mx.sort(logits, axis=-1)[:, -k][:, None]`)."""
    condition, kept = where.args[0], where.args[1]
    if not (isinstance(condition, ast.Compare) and len(condition.ops) == 1
            and isinstance(kept, ast.Name) and minus_infinity(source, where.args[2],
                                                               dict(scope))):
        return False
    left, op, right = condition.left, condition.ops[0], condition.comparators[0]
    value, bound = (left, right) if isinstance(op, ast.GtE) else (right, left) if isinstance(
        op, ast.LtE) else (None, None)
    if not (isinstance(value, ast.Name) and value.id == kept.id):
        return False
    return any(isinstance(n, ast.Call) and last_name(n.func) in ORDER
               and kept.id in names_in(n) for n in traced(bound, scope))


def traced(node: ast.AST, scope: dict[str, ast.AST],
           shapes: SourceFile | None = None) -> list[ast.AST]:
    """The nodes of `node` and of the local bindings of the names it reads (and of the
    `self.x` attributes `scope` holds as "self.x"), transitively; with `shapes` (the source),
    not through a name read only for its shape (`T = x.shape[1]` reads no data of `x`)."""
    todo, seen, found = [node], set(), []
    while todo:
        for n in descendants(todo.pop()):
            found.append(n)
            key = n.id if isinstance(n, ast.Name) else (
                f"self.{n.attr}" if isinstance(n, ast.Attribute) and isinstance(
                    n.value, ast.Name) and n.value.id == "self" else None)
            if shapes is not None and isinstance(n, ast.Name) and shape_read(shapes, n):
                continue
            if key in scope and key not in seen:
                seen.add(key)
                todo.append(scope[key])
    return found


def init_bindings(source: SourceFile, node: ast.AST) -> dict[str, ast.AST]:
    """`self.x` -> its binding in the `__init__` of the class around `node` (as "self.x")."""
    cls = source.enclosing(node, (ast.ClassDef,))
    init = next((f for f in cls.body if getattr(f, "name", "") == "__init__"), None) if (
        cls is not None) else None
    if init is None:
        return {}
    return {f"self.{t.attr}": v for t, v in body_assignments(source, init)
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
            and t.value.id == "self"}


def keeps_band(source: SourceFile, where: ast.Call, scope: dict[str, ast.AST]) -> bool:
    """The -inf of `mx.where(cond, x, y)` goes where the band mask is 0: in `x` when the
    condition is negated (`band == 0`, `~band`), in `y` otherwise."""
    infinite = [i for i, a in enumerate(where.args[1:], 1)
                if minus_infinity(source, a, dict(scope))]
    return infinite == ([1] if negated(where.args[0]) else [2])


def negated(condition: ast.AST) -> bool:
    """`band == 0`, `~band`, `not band`: true off the band."""
    if isinstance(condition, ast.UnaryOp) and isinstance(condition.op, (ast.Invert, ast.Not)):
        return True
    return isinstance(condition, ast.Compare) and len(condition.ops) == 1 and isinstance(
        condition.ops[0], ast.Eq) and isinstance(condition.comparators[0], ast.Constant) and (
        condition.comparators[0].value == 0)


def shape_read(source: SourceFile, name: ast.Name) -> bool:
    """`x.shape` (a size, not data)."""
    parent = source.parents.get(name)
    return isinstance(parent, ast.Attribute) and parent.attr == "shape"


class InfiniteMaskSoftmax(Rule):
    """MLX035: `mx.where(keep, scores, -inf)` fed to a softmax (or as an additive mask to
    `mx.fast.scaled_dot_product_attention`) in differentiated code: a row whose keys are all
    masked is softmax(-inf, ..., -inf) = NaN, and its gradient too. A causal or band mask
    built in place from tril/triu/arange alone, or handed down so by every call of the layer
    (`from_callers`), keeps the diagonal and is left alone, as is a top-k mask (`x >= t`, `t`
    an order statistic of `x`), which keeps each row's largest."""

    id = "MLX035"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return "inf" in text and ("softmax(" in text or "attention(" in text) and (
            differentiates(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        constants = last_bindings(source.tree.body)
        for node in differentiated_nodes(source):
            if not (isinstance(node, ast.Call) and source.imports.resolve(node.func) in WHERE
                    and len(node.args) == 3):
                continue
            scope = {**constants, **bindings(source, node)}
            if any(minus_infinity(source, a, dict(scope)) for a in node.args[1:]) and (
                    softmaxed(source, node)) and not causal_only(source, node, scope) \
                    and not keeps_top(source, node, scope):
                yield self.hit(source, node)
