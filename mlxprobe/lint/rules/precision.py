"""MLX046: parameters cast to bfloat16 and stepped by an Adam-family optimizer whose learning
rate is at most 1e-4; MLX048: a float16 array squared and averaged (a hand-written RMSNorm
fed float16 activations).

Job: tie `model.set_dtype(mx.bfloat16)` to the optimizer that updates `model` and read that
optimizer's learning rate (the dtype may be a parameter's bfloat16 default that no call
overrides, and `model` a loader's result: `student = load_for_finetune(teacher)`).
bfloat16 keeps 8 significant bits: an update is lost when it is below half a unit in the
last place, |step| < |w| / 256. Adam's step is about the learning
rate, so with lr <= 1e-4 every weight with |w| > 0.0256 (most of a freshly initialised or
pretrained matrix) never changes, with no error (unsloth-zoo PR #684: keep float32 master
weights). MLX048: float16 ends at 65504, so x * x is inf for |x| > 256; the mean is inf, its
rsqrt 0, and the norm outputs zeros, whose layers then get no gradient (mlx-vlm#84); nn.RMSNorm
(mx.fast.rms_norm) accumulates in float32.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import module_classes, returns_of
from ..finding import Finding
from ..flow import (
    assignments,
    body_assignments,
    body_nodes,
    bound_arguments,
    calls,
    calls_by_name,
    defaults,
    self_attr,
    walk,
)
from ..names import last_name
from ..partial import closure
from ..source import FUNCTIONS, SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update
from .moments import square_of
from .numerics import MEAN, module_constants, subject

BFLOAT16 = "mlx.core.bfloat16"
ADAM_FAMILY = frozenset(f"mlx.optimizers.{n}" for n in ("Adam", "AdamW", "Adamax", "Lion"))
SMALL_LR = 1e-4


def constant_value(node: ast.AST, constants: dict[str, ast.AST]) -> ast.AST:
    """A module constant's value for its name; the node itself otherwise."""
    return constants.get(node.id, node) if isinstance(node, ast.Name) else node


def learning_rate(call: ast.Call, constants: dict[str, ast.AST]) -> float | None:
    """The literal learning rate of `optim.AdamW(learning_rate=2e-5)` (or positional)."""
    given = next((k.value for k in call.keywords if k.arg == "learning_rate"), None)
    given = given if given is not None else (call.args[0] if call.args else None)
    value = constant_value(given, constants) if given is not None else None
    if isinstance(value, ast.Constant) and isinstance(value.value, (int, float)):
        return float(value.value)
    return None


def optimizers(source: SourceFile, constants: dict[str, ast.AST]) -> dict[str, float]:
    """Names bound to an Adam-family optimizer -> its literal learning rate."""
    found: dict[str, float] = {}
    for target, value in assignments(source.of_type(ast.Assign)):
        if isinstance(value, ast.Call) and source.imports.resolve(value.func) in ADAM_FAMILY:
            rate = learning_rate(value, constants)
            if rate is not None and isinstance(target, ast.Name):
                found[target.id] = rate
    return found


def slow_models(source: SourceFile, constants: dict[str, ast.AST]) -> set[str]:
    """What an optimizer with a learning rate <= 1e-4 updates, as source text."""
    rates = optimizers(source, constants)
    return {ast.unparse(c.args[0] if c.args else c.keywords[0].value)
            for c in source.of_type(ast.Call) if is_optimizer_update(source, c)
            and rates.get(last_name(c.func.value) or "", 1.0) <= SMALL_LR}


class Bfloat16SmallSteps(Rule):
    """MLX046: `model.set_dtype(mx.bfloat16)` for a model an Adam-family optimizer with a
    literal learning rate <= 1e-4 updates."""

    id = "MLX046"
    anchors = ("set_dtype(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "bfloat16" in text and "set_dtype(" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        constants = module_constants(source)
        slow = slow_models(source, constants)
        for call in source.of_type(ast.Call):
            if last_name(call.func) != "set_dtype" or len(call.args) != 1:
                continue
            dtype = default_of(source, call, constant_value(call.args[0], constants))
            if source.imports.resolve(dtype) == BFLOAT16 and (
                    ast.unparse(call.func.value) in slow or returned_to(source, call, slow)):
                yield self.hit(source, call)


def default_of(source: SourceFile, call: ast.Call, node: ast.AST) -> ast.AST:
    """For a parameter of the def around `call` that no call of that def in the file gives
    (`dtype=mx.bfloat16` in `def load_for_finetune(teacher, dtype=mx.bfloat16)`, called as
    `load_for_finetune(teacher)`: lintheld3 `a3_bf16_finetune`, spelled anew), its default;
    `node` itself otherwise."""
    function = source.enclosing(call)
    if not isinstance(node, ast.Name) or not isinstance(function, FUNCTIONS):
        return node
    given = defaults(function).get(node.id)
    callers = calls_by_name(source).get(function.name, [])
    if given is None or not callers or any(
            bound_arguments(function, c).get(node.id) is not given for c in callers):
        return node
    return given


def returned_to(source: SourceFile, call: ast.Call, slow: set[str]) -> bool:
    """The model `call` casts is what its def returns, and a caller binds that def's result to
    a name a slow optimizer updates (`student = load_for_finetune(teacher)`)."""
    function = source.enclosing(call)
    target = ast.unparse(call.func.value)
    if not isinstance(function, FUNCTIONS) or not any(
            ast.unparse(r) == target for r in returns_of(function)):
        return False
    return any(isinstance(bound := source.parents.get(c), ast.Assign) and any(
        isinstance(t, ast.Name) and t.id in slow for t in bound.targets)
        for c in calls_by_name(source).get(function.name, []))


FLOAT16 = "mlx.core.float16"
HALF_CAST = re.compile(r"astype\(\s*(?:\w+\.)*float16\s*\)")
REDUCTIONS = (MEAN, "mean"), (frozenset({"mlx.core.sum"}), "sum")


def half_cast(source: SourceFile, node: ast.AST, constants: dict[str, ast.AST]) -> bool:
    """`x.astype(mx.float16)`."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
        node.func.attr == "astype") and len(node.args) == 1 and source.imports.resolve(
        constant_value(node.args[0], constants)) == FLOAT16


def bindings(source: SourceFile, function: ast.AST) -> dict[str, list[ast.AST]]:
    """Each local name -> the values bound to it, in source order (cached per function)."""
    def make() -> dict[str, list[ast.AST]]:
        found: dict[str, list[ast.AST]] = {}
        for target, value in body_assignments(source, function):
            if isinstance(target, ast.Name):
                found.setdefault(target.id, []).append(value)
        return found
    return source.cached("bindings", function, make)


def reaching(source: SourceFile, function: ast.AST, name: str, line: int) -> ast.AST | None:
    """The value of the last `name = ...` in the function on a line before `line`."""
    found = [v for v in bindings(source, function).get(name, ()) if v.lineno < line]
    return max(found, key=lambda v: v.lineno) if found else None


def half_at(source: SourceFile, function: ast.AST, node: ast.AST,
            constants: dict[str, ast.AST]) -> bool:
    """`node` is a float16 cast, or a name whose binding before it is one."""
    if isinstance(node, ast.Name):
        node = reaching(source, function, node.id, node.lineno)
    return node is not None and half_cast(source, node, constants)


def squared_means(source: SourceFile, function: ast.AST) -> Iterator[tuple[ast.Call, ast.AST]]:
    """(the reduction, x) for each `mx.mean(x * x)` (or sum, of `x ** 2`, `mx.square(x)`)
    in the function."""
    for call in calls(body_nodes(source, function)):
        for names, method in REDUCTIONS:
            reduced = subject(source, call, names, method)
            inner = square_of(reduced) if reduced is not None else None
            if inner is not None:
                yield call, inner


def squares_input(source: SourceFile, function: ast.AST, name: str) -> bool:
    """The function squares and reduces its parameter `name`, never rebound (an upcast)."""
    if name in bindings(source, function):
        return False
    return any(isinstance(x, ast.Name) and x.id == name for _, x in squared_means(
        source, function))


def layer_forward(source: SourceFile, cls: ast.ClassDef | None, call: ast.Call) -> \
        ast.AST | None:
    """The `__call__` of the module's own class that `self.norm(h)` runs, when `self.norm`
    is bound to an instance of it in `cls`."""
    attr = self_attr(call.func)
    if cls is None or attr is None:
        return None
    classes = {c.name: c for c in module_classes(source)}
    methods = [f for f in cls.body if isinstance(f, FUNCTIONS)]
    for target, value in assignments(walk(s for f in methods for s in f.body)):
        built = value.func.id if isinstance(value, ast.Call) and isinstance(
            value.func, ast.Name) else None
        if self_attr(target) == attr and built in classes:
            return next((f for f in classes[built].body if isinstance(f, FUNCTIONS)
                         and f.name == "__call__"), None)
    return None


def first_input(function: ast.AST) -> str | None:
    params = [a.arg for a in function.args.posonlyargs + function.args.args]
    return params[1] if len(params) > 1 and params[0] == "self" else None


def casts_half(block: str) -> bool:
    """The text may hold `.astype(mx.float16)` (the dtype spelled out, not a constant)."""
    return "float16" in block and HALF_CAST.search(block) is not None


class HalfSquareOverflow(Rule):
    """MLX048: a float16 cast reaches a mean or sum of its square with no upcast: directly,
    or as the input of a layer of the module's own class (a hand-written RMSNorm)."""

    id = "MLX048"
    anchors = ("float16",)
    local = True  # reads the casting blocks and the blocks defining what they build

    @staticmethod
    def may_fire(text: str) -> bool:
        return casts_half(text) and ("mean(" in text or "sum(" in text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        return closure(text, casts_half).__contains__

    def check(self, source: SourceFile) -> Iterator[Finding]:
        constants = module_constants(source)
        casting = {source.enclosing(c) for c in source.of_type(ast.Call)
                   if half_cast(source, c, constants)}
        for function in casting - {None}:
            for call, x in squared_means(source, function):
                if half_at(source, function, x, constants):
                    yield self.hit(source, call)
            yield from self._layers(source, function, constants)

    def _layers(self, source: SourceFile, function: ast.AST,
                constants: dict[str, ast.AST]) -> Iterator[Finding]:
        """`self.norm(h)` with h float16 and the norm's own class squaring its input."""
        cls = source.enclosing(function, (ast.ClassDef,))
        for call in calls(body_nodes(source, function)):
            if not call.args or not half_at(source, function, call.args[0], constants):
                continue
            forward = layer_forward(source, cls, call)
            given = first_input(forward) if forward is not None else None
            if given and squares_input(source, forward, given):
                yield self.hit(source, call)
