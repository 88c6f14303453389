"""MLX015: an evaluation inside a function run under `mx.compile` or `mx.vmap`: explicit
(`mx.eval`, `.item()`, `.tolist()`, `np.array(x)`) or implicit (an `if`/`while`/`assert` test,
or `float()`/`int()`/`bool()`, on an array value: Python needs the value, MLX must evaluate).

Job: follow what a compiled or vmapped function runs (its body, the module's helpers it calls,
and the functions behind names bound to `value_and_grad`/`compile` of a local function) to an
evaluation. Under `mx.grad`/`value_and_grad` alone an evaluation is allowed, so only compile
and vmap count, except `mx.async_eval`, which every graph transformation refuses (measured,
mlx 0.32.4 CPU: `mx.grad` of a function calling `mx.eval(y)` returns its gradient, of one
calling `mx.async_eval(y)` raises ValueError "[async_eval] Not allowed inside a graph
transformation."; failure corpus fresh25 `async_eval_in_grad_forward`, mlx-vlm PR 1586: a
chunked forward's `mx.async_eval(Y, S)` ran in inference and crashed the first training step).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import arrays_in, evaluation, is_array, layer_classes, layer_forward, under
from ..finding import Finding
from ..flow import calls, instances, method_of, reach, self_attr
from ..partial import closure
from ..source import FUNCTIONS, SourceFile
from .base import Rule

# `mx.compile`, `from mlx.core import compile`, `core.compile`: not `re.compile`.
MX_COMPILE = re.compile(r"(?<!re)\.compile\b|import[^\n]*\bcompile\b")
TESTS = (ast.If, ast.While, ast.IfExp, ast.Assert)
# Text that may hold an explicit or implicit evaluation (a superset of what `check` reports).
EVALUATES = re.compile(r"\b(?:if|while|assert|float|int|bool)\b|eval\(|\.item\(|\.tolist\(|array\(")
CONVERSIONS = frozenset({"float", "int", "bool"})
CATCHES = frozenset({"ValueError", "Exception", "BaseException"})
LAYER_DEPTH = 4  # module calls followed from a compiled function: model -> block -> layer


def mx_compiles(text: str) -> bool:
    """`MX_COMPILE.search(text)`, by `str.find` (a regex scan of every file costs more)."""
    at = text.find("compile")
    while at >= 0:
        before = text[max(0, at - 3):at]
        line = text[text.rfind("\n", 0, at) + 1:at]
        if (before.endswith(".") and not before.endswith("re.")) or "import" in line:
            if not (text[at + 7:at + 8].isalnum() or text[at + 7:at + 8] == "_"):
                return True
        at = text.find("compile", at + 7)
    return False


def seeds(block: str) -> bool:
    """A block that compiles or vmaps something (decorator or call), or differentiates it
    in a file that calls `async_eval`."""
    return compiling(block) or "grad(" in block


def async_under_grad(text: str) -> bool:
    return "async_eval(" in text and "grad(" in text


def compiling(block: str) -> bool:
    """A block that compiles or vmaps something (decorator or call)."""
    return "vmap(" in block or "@mx.vmap" in block or mx_compiles(block)


def async_evaluated(source: SourceFile, node: ast.AST) -> ast.AST | None:
    """`mx.async_eval(...)`: refused under any transformation, a gradient's included; not
    where a `try` around it catches the ValueError (the fix mlx-vlm PR 1586 made)."""
    return node if isinstance(node, ast.Call) and source.imports.resolve(
        node.func) == "mlx.core.async_eval" and not caught(source, node) else None


def caught(source: SourceFile, node: ast.AST) -> bool:
    """A `try` around `node` (in its function) has a handler for ValueError, Exception or
    anything."""
    child, parent = node, source.parents.get(node)
    while parent is not None and not isinstance(parent, FUNCTIONS):
        if isinstance(parent, ast.Try) and child in parent.body and any(
                h.type is None or any(isinstance(n, ast.Name) and n.id in CATCHES
                                      for n in ast.walk(h.type)) for h in parent.handlers):
            return True
        child, parent = parent, source.parents.get(parent)
    return False


def implicit_evaluation(source: SourceFile, node: ast.AST) -> ast.AST | None:
    """The array a statement or call makes Python read: an `if`/`while`/`assert` test or a
    `float(x)`/`int(x)`/`bool(x)` argument that is an array (as far as the module shows)."""
    if isinstance(node, TESTS):
        value = node.test
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
          and node.func.id in CONVERSIONS and len(node.args) == 1):
        value = node.args[0]
    else:
        return None
    scope = source.enclosing(node)
    arrays = arrays_in(source, scope) if isinstance(scope, FUNCTIONS) else set()
    return value if any(is_array(source, v, arrays) for v in truth_tested(value)) else None


def truth_tested(value: ast.AST) -> list[ast.AST]:
    """The values Python asks `bool()` of in a test: `a or b` and `not a` test each operand
    (fresh47 `policy_logprob_guard`, textpolicy f4e2e11: `if mx.any(...) or mx.any(...)` in a
    compiled loss raised at the first step)."""
    if isinstance(value, ast.BoolOp):
        return [t for v in value.values for t in truth_tested(v)]
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not):
        return truth_tested(value.operand)
    return [value]


def called_layer(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The `__call__` of the module's own class a call runs: `model(x)` with `model` bound
    to one (a same-named parameter taken to hold it, as a script passes its model), `self.x(h)`
    and `layer(h)` in `for layer in self.layers` with the attribute made in `__init__`."""
    func = call.func
    if not isinstance(func, ast.Name):
        return layer_forward(source, call)
    cls = instances(source).get(func.id) or _looped_layer(source, call, func.id)
    return method_of(cls, "__call__") if cls is not None else None


def _looped_layer(source: SourceFile, call: ast.Call, name: str) -> ast.ClassDef | None:
    """The class of `self.layers`' elements when `name` is the target of `for name in
    self.layers` around the call."""
    loop = source.enclosing(call, (ast.For,))
    if not (loop is not None and isinstance(loop.target, ast.Name) and loop.target.id == name
            and (attr := self_attr(loop.iter)) is not None):
        return None
    owner = source.enclosing(loop, (ast.ClassDef,))
    return layer_classes(source, owner).get(attr) if owner is not None else None


def through_layers(source: SourceFile, nodes: list[ast.AST]) -> list[ast.AST]:
    """`nodes` and what the module's own layers they call run (LAYER_DEPTH calls deep)."""
    seen: set[ast.AST] = set()
    frontier = nodes
    for _ in range(LAYER_DEPTH):
        layers = {m for c in calls(frontier) if (m := called_layer(source, c)) and m not in seen}
        if not layers:
            break
        seen |= layers
        frontier = [n for m in layers for n in reach(source, m.body)]
        nodes = nodes + frontier
    return nodes


class EvalUnderCompile(Rule):
    """MLX015: an explicit or implicit evaluation in a function run under `mx.compile` or
    `mx.vmap` (or in what it calls in the same module)."""

    id = "MLX015"
    anchors = ("vmap", "compile", "async_eval(")
    local = True  # reads the compiled function and the blocks defining what it calls

    @staticmethod
    def may_fire(text: str) -> bool:
        return "vmap" in text or mx_compiles(text) or async_under_grad(text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The compiling (or, with an `async_eval`, differentiating) blocks and what they
        call, when one of those can evaluate at all (most compiled functions, such as fused
        activations, hold no test and no eval)."""
        kept = closure(text, seeds if async_under_grad(text) else compiling)
        if not any(EVALUATES.search(b) for b in kept):
            kept = set()
        return kept.__contains__

    def check(self, source: SourceFile) -> Iterator[Finding]:
        seen: set[ast.AST] = set()
        kinds = ("compile", "vmap", "grad") if "async_eval(" in source.text else (
            "compile", "vmap")
        for kind in kinds:
            for _, nodes in under(source, kind):
                for node in through_layers(source, nodes):
                    where = self._evaluated(source, node) if kind != "grad" else \
                        async_evaluated(source, node)
                    if where is not None and where not in seen:
                        seen.add(where)
                        yield self.hit(source, where)

    def _evaluated(self, source: SourceFile, node: ast.AST) -> ast.AST | None:
        if isinstance(node, ast.Call) and evaluation(source, node):
            return node
        return implicit_evaluation(source, node)
