"""MLX105: a training step appends the model's whole output (its logits) to a list that
outlives the step (`self.all_preds.append(logits)`), for a metric computed at the end. Each
step keeps a (batch, length, vocab) array, so memory grows with the steps for the whole run
(unsloth-zoo PR 878: +1.5 GB for a metric over full logits; failure corpus fresh16
`full_logits_kept_for_metrics`: RSS +188 MB over 148 steps, flat when only the argmax is
kept).

Job: in a function that steps an optimizer, in the loop that steps it (or with no loop
around the append: a step function), find the names that hold a model output (a call
of a layer or a model instance, or the auxiliary output of a `value_and_grad` whose function
returns one: `(loss, logits), grads = grad_fn(model, x, y)`) appended to a list the step does
not create afresh (an attribute, a name bound outside the function, or before its loop).
A reduction of the output (`acc = mx.mean(mx.argmax(out, 1) == y)`, `.item()`, a comparison)
is not the output: it keeps a number or a row of ids, and neither is a name whose last
binding before the append is one (fresh191 `kiln_tile_glaze_epochavg_ok`: `acc = acc.item()`
then `accs.append(acc)`, read as logits kept).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import layer_output, returns_of, wrapped
from ..finding import Finding
from ..flow import assigned, assignments, body_nodes, calls
from ..names import last_name
from ..source import FUNCTIONS, LOOPS, SourceFile
from .base import Rule, optimizer_update_in
from .evaluation import is_optimizer_update
from .numerics import function_bindings

# calls that leave a number or a smaller array than the output they read (methods or mx.*)
SMALLER = frozenset({"mean", "sum", "max", "min", "argmax", "argmin", "all", "any", "item",
                     "tolist", "logsumexp", "var", "std", "prod", "float", "int"})


def whole(node: ast.AST, bound: dict[str, ast.AST], depth: int = 2) -> bool:
    """`node` (through `depth` local names) is not a reduction, `.item()` or comparison."""
    if isinstance(node, ast.Name) and depth and node.id in bound:
        return whole(bound[node.id], bound, depth - 1)
    return not isinstance(node, ast.Compare) and not (
        isinstance(node, ast.Call) and last_name(node.func) in SMALLER)


def last_value(nodes: list[ast.AST], name: str, line: int) -> ast.AST | None:
    """The value of the last binding of `name` on a line before `line`, if any."""
    found = [(t.lineno, v) for t, v in assignments(nodes)
             if name in assigned(t) and t.lineno < line]
    return max(found, key=lambda pair: pair[0])[1] if found else None


def aux_outputs(source: SourceFile, target: ast.AST, value: ast.AST) -> set[str]:
    """The names of `(loss, logits), grads = grad_fn(...)` whose element of the transformed
    function's returned tuple is a model output."""
    function = wrapped(source).get(ast.unparse(value.func)) if isinstance(
        value, ast.Call) else None
    if function is None or not (isinstance(target, ast.Tuple) and target.elts
                                and isinstance(target.elts[0], ast.Tuple)):
        return set()
    bound = function_bindings(source, function)
    found: set[str] = set()
    for returned in returns_of(function):
        if isinstance(returned, ast.Tuple):
            for name, element in zip(target.elts[0].elts[1:], returned.elts[1:]):
                if isinstance(name, ast.Name) and layer_output(source, element, bound) \
                        and whole(element, bound):
                    found.add(name.id)
    return found


def outputs(source: SourceFile, function: ast.AST, nodes: list[ast.AST]) -> set[str]:
    bound = function_bindings(source, function)
    found: set[str] = set()
    for target, value in assignments(nodes):
        found |= aux_outputs(source, target, value)
        if isinstance(target, ast.Name) and layer_output(source, value, bound) \
                and whole(value, bound):
            found.add(target.id)
    return found


def outlives(source: SourceFile, nodes: list[ast.AST], call: ast.Call) -> bool:
    """The list appended to is `self.x`, a name the function does not bind, or a name the
    loop around the append does not bind (a list made before the training loop)."""
    container = call.func.value  # type: ignore[attr-defined]
    if isinstance(container, ast.Attribute):
        return isinstance(container.value, ast.Name) and container.value.id == "self"
    if not isinstance(container, ast.Name):
        return False
    loop = source.enclosing(call, LOOPS)
    scope = body_nodes(source, loop) if loop is not None and loop in nodes else nodes
    return container.id not in {n for t, _ in assignments(scope) for n in assigned(t)}


class ModelOutputKept(Rule):
    """MLX105: a step's model output appended to a list that lives across steps."""

    id = "MLX105"
    anchors = (".append(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """An append and an optimizer update (`is_optimizer_update`: a receiver named
        `opt...`) in the same text: a block lacking either holds no finding."""
        return ".append(" in text and ".update(" in text and optimizer_update_in(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in source.of_type(*FUNCTIONS):
            nodes = body_nodes(source, function)
            if not any(is_optimizer_update(source, c) for c in calls(nodes)):
                continue
            kept = outputs(source, function, nodes)
            for call in calls(nodes):
                if (last_name(call.func) == "append" and len(call.args) == 1
                        and isinstance(call.args[0], ast.Name) and call.args[0].id in kept
                        and isinstance(call.func, ast.Attribute)
                        and outlives(source, nodes, call) and still_whole(nodes, call)
                        and stepped_beside(source, function, call)):
                    yield self.hit(source, call)


def stepped_beside(source: SourceFile, function: ast.AST, call: ast.Call) -> bool:
    """The append runs once per optimizer step: no loop of `function` holds it, or one that
    does also holds an optimizer update. A loop after training that evaluates each kept
    snapshot and appends its predictions for an ensemble runs once per snapshot (fresh323
    `glock_bar_snapshots`, correct: five snapshots' test predictions, read as logits kept
    at every step)."""
    loops, node = [], source.parents.get(call)
    while node is not None and node is not function:
        loops += [node] if isinstance(node, LOOPS) else []
        node = source.parents.get(node)
    return not loops or any(is_optimizer_update(source, c)
                            for loop in loops for c in calls(body_nodes(source, loop)))


def still_whole(nodes: list[ast.AST], call: ast.Call) -> bool:
    """The appended name's last binding before the append is not a reduction of it."""
    value = last_value(nodes, call.args[0].id, call.lineno)  # type: ignore[attr-defined]
    return value is None or whole(value, {})
