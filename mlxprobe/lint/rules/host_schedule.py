"""MLX139: a learning-rate schedule written by hand that returns a Python number, passed to an
`mlx.optimizers` optimizer as its `learning_rate`. The optimizer calls the schedule with its
step (an `mx.array`) and stores what it returns as the rate; every `apply_single` then does
`self.learning_rate.astype(gradient.dtype)`, so a float crashes the first update with
`AttributeError: 'float' object has no attribute 'astype'`. A schedule built from the step
array stays an array; one that converts the step (`int(step)`, `float(step)`, `.item()`) or
uses `math.cos` computes on the host and must wrap its result: `return mx.array(lr)`.

Measured (mlx 0.32.4 CPU, failure corpus fresh36 `warmup_cosine_float_lr`, from SceneWorks'
fix): `optim.Adam(learning_rate=lr_schedule)` with a warm-up + cosine schedule that starts
with `step = int(step)` exits 1 at the first `opt.update`, before any progress line; with
`return mx.array(lr)` it trains, val_mse 0.58 -> 0.0069.

Job: resolve the optimizer's `learning_rate` (its first argument or the keyword) to a lambda
or to the module's own function, and fire when every value it returns is host-valued: a
number, a name bound only to host values (the module's numeric constants, `int(...)`,
`float(...)`, `math.*`, `.item()`, arithmetic, `min`/`max`/`abs`/`round` of those). A
parameter never converted is the step array, so anything computed from it is left alone.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import FUNCTIONS, SourceFile
from .base import Rule

OPTIMIZERS = "mlx.optimizers."
CONVERTERS = frozenset({"float", "int", "round"})
REDUCERS = frozenset({"min", "max", "abs"})
BINDINGS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For)


def rate_argument(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The `learning_rate` of an `mlx.optimizers.<Class>(...)` call."""
    name = source.imports.resolve(call.func) or ""
    if not name.startswith(OPTIMIZERS) or not name.rsplit(".", 1)[-1][:1].isupper():
        return None
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg == "learning_rate"), None)


def host(source: SourceFile, node: ast.AST, names: set[str]) -> bool:
    """Whether `node` computes a Python number from `names` (host-valued names) alone."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Attribute):
        return (source.imports.resolve(node) or "").startswith("math.")
    if isinstance(node, ast.BinOp):
        return host(source, node.left, names) and host(source, node.right, names)
    if isinstance(node, ast.UnaryOp):
        return host(source, node.operand, names)
    if isinstance(node, ast.IfExp):
        return host(source, node.body, names) and host(source, node.orelse, names)
    return isinstance(node, ast.Call) and host_call(source, node, names)


def host_call(source: SourceFile, call: ast.Call, names: set[str]) -> bool:
    """`float(x)`, `int(x)`, `math.cos(x)`, `x.item()`, `min(a, b)` of host values."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in CONVERTERS:
        return True
    if isinstance(func, ast.Attribute) and func.attr == "item" and not call.args:
        return True
    if (source.imports.resolve(func) or "").startswith("math."):
        return True
    return isinstance(func, ast.Name) and func.id in REDUCERS and bool(call.args) and all(
        host(source, a, names) for a in call.args)


def bound_host(source: SourceFile, body: list[ast.AST], names: set[str]) -> set[str]:
    """`names` and the simple names every one of whose assignments in `body` (in order) is
    host-valued; a tuple assigned element by element counts each element."""
    known, spoiled = set(names), set()
    for node in body:
        for target, value in _pairs(node):
            if host(source, value, known) and target not in spoiled:
                known.add(target)
            else:
                spoiled.add(target)
                known.discard(target)
    return known


UNKNOWN = ast.Constant(None)  # what a loop target holds: never host


def _pairs(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """(name, value) of `a = v`, `a, b = v1, v2`, `a += v` (as `a + v`), `a: T = v`, and a
    loop's target (unknown)."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
        if isinstance(target, ast.Name):
            return [(target.id, value)]
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(
                target.elts) == len(value.elts):
            return [(t.id, v) for t, v in zip(target.elts, value.elts) if isinstance(t, ast.Name)]
    if not isinstance(getattr(node, "target", None), ast.Name):
        return []
    if isinstance(node, ast.AugAssign):
        return [(node.target.id, ast.BinOp(ast.Name(node.target.id), node.op, node.value))]
    if isinstance(node, ast.AnnAssign):
        return [(node.target.id, node.value or UNKNOWN)]
    return [(node.target.id, UNKNOWN)] if isinstance(node, ast.For) else []


class HostValuedSchedule(Rule):
    """MLX139: `optim.Adam(learning_rate=f)` where `f` returns a Python float."""

    id = "MLX139"
    anchors = ("optimizers",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "optimizers" in text and ("return" in text or "lambda" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        constants = bound_host(source, source.tree.body, set())
        for call in source.of_type(ast.Call):
            rate = rate_argument(source, call)
            if rate is not None and self._returns_host(source, rate, constants):
                yield self.hit(source, rate)

    @staticmethod
    def _returns_host(source: SourceFile, rate: ast.AST, constants: set[str]) -> bool:
        schedule = _schedule(source, rate)
        if schedule is None:
            return False
        names = constants - {a.arg for a in ast.walk(schedule.args) if isinstance(a, ast.arg)}
        if isinstance(schedule, ast.Lambda):
            return host(source, schedule.body, names)
        nodes = sorted((n for n in ast.walk(schedule) if isinstance(n, BINDINGS)),
                       key=lambda n: (n.lineno, n.col_offset))
        names = bound_host(source, nodes, names)
        returns = [n.value for n in ast.walk(schedule) if isinstance(n, ast.Return) and n.value]
        return bool(returns) and all(host(source, r, names) for r in returns)


def _schedule(source: SourceFile, rate: ast.AST) -> ast.AST | None:
    """The lambda or function a `learning_rate` argument names: written in place, the
    module's own function, or a module-level name bound to a lambda."""
    if isinstance(rate, ast.Lambda) or not isinstance(rate, ast.Name):
        return rate if isinstance(rate, ast.Lambda) else None
    function = source.local_function(rate.id)
    if isinstance(function, FUNCTIONS):
        return function
    bound = [v for node in source.tree.body for name, v in _pairs(node) if name == rate.id]
    return bound[0] if len(bound) == 1 and isinstance(bound[0], ast.Lambda) else None
