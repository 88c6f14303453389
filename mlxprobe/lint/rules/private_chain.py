"""MLX255: state a module updates from itself at each call, kept under a name that starts with
`_` and never evaluated: MLX leaves such attributes out of `parameters()` and `state`, so the
loop's `mx.eval(model.parameters(), optimizer.state)` never reaches them, and where the call's
output does not read the new value either, each call adds one more lazy node to a chain that
nothing computes: memory grows every step and the first real read pays for the whole chain.

Measured (mlx 0.32.4 CPU, failure corpus fresh26 `bn_hidden_stats_lazy_graph`): a hand-written
BatchNorm kept `self._running_mean` / `self._running_var`, updated in the training branch of
`__call__` (the output normalises with the batch's own statistics); the loop evaluated
`model.parameters(), opt.state, loss` every step and its RSS climbed every step; adding
`mx.eval([self._running_mean, self._running_var])` after the update (the upstream fix) kept it
flat. The same state is lost by `save_weights` (MLX219 says that one where the file saves).

Job: in an nn.Module subclass, a `self._x = ...` in `__init__` whose value is one of MLX's
array initialisers, rebound in another method from an expression that reads `self._x`
(`private_state.running_updates`), where no later statement of that method that can run in
the same call reads `self._x` (a read in the other arm of the `if` that holds the update is
another call: the evaluation-mode branch) and nothing in the module evaluates `._x`
(`mx.eval`/`mx.async_eval` of an expression naming it, or its `.item()`/`.tolist()`). Where
the state is read in such another arm, a loop that switches the model to evaluation mode
(`.eval()`, `.train(False)`, in its body or a function it calls: a validation pass each
epoch) computes the chain at each pass, and the rule stays quiet (fresh212
`rennet_curd_runstats_ckpt`: `accuracy()` each epoch; only its checkpoint loses the state). A
power-iteration vector read by the output it scales (spectral norm) is computed whenever the
output is, and is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import body_assignments, calls, loop_reach, self_attr
from ..names import EVAL
from ..source import FUNCTIONS, LOOPS, SourceFile, descendants
from .base import Rule
from .private_state import running_updates
from .unread_parameter import initialised

READS = frozenset({"item", "tolist"})


class PrivateChain(Rule):
    """MLX255: `self._running_mean = (1 - m) * self._running_mean + m * mean` in a training
    branch, the output built from the batch's statistics, `self._running_mean` never
    evaluated."""

    id = "MLX255"
    anchors = ("self._",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "self._" in text and "Module" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            methods = [f for f in cls.body if isinstance(f, FUNCTIONS)]
            private = {self_attr(t) for f in methods if f.name == "__init__"
                       for t, v in body_assignments(source, f)
                       if (self_attr(t) or "").startswith("_") and initialised(source, v)}
            for method in (f for f in methods if f.name != "__init__" and private):
                updated = running_updates(source, method) & private
                for name in updated - evaluated_attributes(source) if updated else ():
                    found = unread_updates(source, method, name)
                    if found and not (read_elsewhere(source, method, name, found)
                                      and mode_switched_in_loop(source)):
                        yield from (self.hit(source, target) for target in found)


def read_elsewhere(source: SourceFile, method: ast.AST, name: str,
                   targets: list[ast.AST]) -> bool:
    """`self.<name>` is read in `method` outside the update statements themselves."""
    inside = {id(n) for t in targets for n in ast.walk(source.parents.get(t, t))}
    return any(self_attr(n) == name and isinstance(n.ctx, ast.Load) and id(n) not in inside
               for n in ast.walk(method))


def mode_switched_in_loop(source: SourceFile) -> bool:
    """Some loop switches a model to evaluation mode, itself or in a function it calls:
    `model.eval()`, `model.train(False)`."""
    key = ("mode_switched_in_loop",)
    if key not in source.cache:
        source.cache[key] = any(_switches(c) for loop in source.of_type(*LOOPS)
                                for c in calls(loop_reach(source, loop)))
    return source.cache[key]


def _switches(call: ast.Call) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "eval":
        return not call.args and not call.keywords
    return func.attr == "train" and len(call.args) == 1 and isinstance(
        call.args[0], ast.Constant) and call.args[0].value is False


def unread_updates(source: SourceFile, method: ast.AST, name: str) -> list[ast.AST]:
    """The targets of `self.<name> = ...` in `method` that no later read in the same call
    follows."""
    targets = [t for t, v in body_assignments(source, method) if self_attr(t) == name
               and any(self_attr(n) == name for n in descendants(v))]
    reads = [n for n in descendants(method) if self_attr(n) == name
             and isinstance(n.ctx, ast.Load)]
    return [t for t in targets if not any(
        _after(r, source.parents.get(t, t)) and not exclusive(source, r, t) for r in reads)]


def _after(read: ast.AST, statement: ast.AST) -> bool:
    """`read` starts after `statement` (the assignment, its value included) ends."""
    return (read.lineno, read.col_offset) > (statement.end_lineno, statement.end_col_offset)


def exclusive(source: SourceFile, one: ast.AST, other: ast.AST) -> bool:
    """The two nodes sit in different arms of one `if` (never run in the same call)."""
    arms = {}
    node = source.parents.get(one)
    child = one
    while node is not None:
        if isinstance(node, ast.If):
            arms[node] = child in node.body
        child, node = node, source.parents.get(node)
    node, child = source.parents.get(other), other
    while node is not None:
        if node in arms and arms[node] != (child in node.body):
            return True
        child, node = node, source.parents.get(node)
    return False


def evaluated_attributes(source: SourceFile) -> set[str]:
    """The attribute names the module evaluates: named in an `mx.eval` / `mx.async_eval`,
    or read with `.item()` / `.tolist()` (once per module, only where a candidate is)."""
    key = ("evaluated_attributes",)
    if key not in source.cache:
        source.cache[key] = _evaluated(source)
    return source.cache[key]


def _evaluated(source: SourceFile) -> set[str]:
    found: set[str] = set()
    for call in source.of_type(ast.Call):
        if source.imports.resolve(call.func) in EVAL:
            found |= {n.attr for a in call.args for n in ast.walk(a)
                      if isinstance(n, ast.Attribute)}
        elif isinstance(call.func, ast.Attribute) and call.func.attr in READS and isinstance(
                call.func.value, ast.Attribute):
            found.add(call.func.value.attr)
    return found
