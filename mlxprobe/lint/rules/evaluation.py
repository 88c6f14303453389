"""Rules about lazy evaluation in training loops: MLX001 (update never evaluated) and MLX008
(loss arrays kept across steps un-evaluated).

Job: find loops whose work MLX never computes, so the graph (and memory) grows every step.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Edit, Finding
from ..flow import (
    assigned,
    assignments,
    body_nodes,
    calls,
    helper_of,
    loop_reach,
    names_in,
)
from ..names import EVAL, MLX_CORE, dotted, last_name, root_name
from ..source import LOOPS, SourceFile
from .base import Rule

MATERIALISE = frozenset({"item", "tolist", "float", "int", "bool", "array", "asarray"})


def is_optimizer_update(source: SourceFile, call: ast.Call) -> bool:
    """`optimizer.update(model, grads)`: an `update` with two arguments on an optimizer."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr != "update":
        return False
    receiver = (last_name(func.value) or "").lower()
    return "opt" in receiver and len(call.args) + len(call.keywords) == 2


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


def passes_optimizer(source: SourceFile, nodes: list[ast.AST], optimizer: str) -> bool:
    """An unknown call given the optimizer (a checkpoint, a sync) may evaluate its state."""
    for call in calls(nodes):
        if source.imports.resolve(call.func) in EVAL or helper_of(source, call):
            continue
        args = (ast.unparse(a) for a in (*call.args, *(k.value for k in call.keywords))
                if isinstance(a, (ast.Name, ast.Attribute)))
        if any(a == optimizer or a.startswith(optimizer + ".") for a in args):
            return True
    return False


class UpdateWithoutEval(Rule):
    """MLX001: `optimizer.update` reached from a loop in which nothing evaluates the update."""

    id = "MLX001"

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for loop in source.of_type(*LOOPS):
            nodes = loop_reach(source, loop)
            for call in self._unevaluated(source, nodes):
                if call not in reported:
                    reported.add(call)
                    yield self.hit(source, call, self._edit(source, loop, call))

    def _unevaluated(self, source: SourceFile, nodes: list[ast.AST]) -> list[ast.Call]:
        updates = [c for c in calls(nodes) if is_optimizer_update(source, c)]
        if not updates:
            return []
        outputs = step_outputs(nodes)
        if any(covers_update(a, outputs) for e in evals(source, nodes) for a in e.args):
            return []
        optimizer = ast.unparse(updates[0].func.value)
        return [] if passes_optimizer(source, nodes, optimizer) else updates

    def _edit(self, source: SourceFile, loop: ast.AST, call: ast.Call) -> Edit | None:
        """Insert `mx.eval(model.parameters(), optimizer.state)` after a plain update line."""
        statement = source.parents.get(call)
        mx = source.imports.alias_of(MLX_CORE)
        model = call.args[0] if call.args else None
        if not (mx and isinstance(statement, ast.Expr) and statement in loop.body
                and model is not None and dotted(model) and dotted(call.func.value)):
            return None
        line = source.lines[statement.end_lineno - 1]
        rest = line[statement.end_col_offset:].strip()
        if rest and not rest.startswith("#"):
            return None
        first = source.lines[statement.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        text = (f"{indent}{mx}.eval({ast.unparse(model)}.parameters(), "
                f"{ast.unparse(call.func.value)}.state)\n")
        return Edit(statement.end_lineno + 1, 0, statement.end_lineno + 1, 0, text)


def loss_names(nodes: list[ast.AST]) -> set[str]:
    """Names a loop binds to a step's loss array: the first of `loss, g = grad_fn(...)`, or
    `loss = f(...)` (not `float(...)`/`.item()`)."""
    found: set[str] = set()
    for target, value in assignments(nodes):
        if not isinstance(value, ast.Call) or last_name(value.func) in MATERIALISE:
            continue
        callee = (last_name(value.func) or "").lower()
        if isinstance(target, ast.Tuple) and target.elts and "grad" in callee:
            found.update(assigned(target.elts[0]))
        elif isinstance(target, ast.Name) and "loss" in target.id.lower():
            found.add(target.id)
    return found


def materialised(nodes: list[ast.AST]) -> set[str]:
    """Names that are `.item()`-ed, `float()`-ed or the like somewhere in the loop."""
    found: set[str] = set()
    for call in calls(nodes):
        if isinstance(call.func, ast.Attribute) and call.func.attr in MATERIALISE:
            found |= names_in(call.func.value)
        elif last_name(call.func) in MATERIALISE:
            found |= {n for a in call.args for n in names_in(a)}
    return found


def kept(node: ast.AST) -> tuple[str, str] | None:
    """(container, value) of `c.append(v)`, `t += v` or `t = t + v` with a bare-name value."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        call = node.value
        if last_name(call.func) == "append" and len(call.args) == 1 and isinstance(
                call.args[0], ast.Name):
            return root_name(call.func.value) or "", call.args[0].id
    if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
        if isinstance(node.value, ast.Name):
            return root_name(node.target) or "", node.value.id
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp):
        value, target = node.value, node.targets[0]
        if isinstance(value.op, ast.Add) and isinstance(value.right, ast.Name) and isinstance(
                target, ast.Name) and isinstance(value.left, ast.Name) and (
                value.left.id == target.id):
            return target.id, value.right.id
    return None


def reset(body: list[ast.AST], keeper: ast.AST, name: str) -> bool:
    """The container is bound afresh inside the loop (not kept across steps)."""
    others = (n for n in body if isinstance(n, (ast.Assign, ast.AnnAssign)) and n is not keeper)
    return any(name in assigned(t) for n in others for t, _ in assignments([n]))


class LazyLossKept(Rule):
    """MLX008: a loss array appended or summed across a loop's steps, never evaluated."""

    id = "MLX008"

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.AST] = set()
        for loop in source.of_type(*LOOPS):
            body = body_nodes(source, loop)
            losses = loss_names(body)
            if not losses:
                continue
            safe = materialised(body) | self._evaluated(source, loop)
            for node in body:
                hit = kept(node)
                if (hit and hit[0] and hit[1] in losses and not {*hit} & safe
                        and not reset(body, node, hit[0]) and node not in reported):
                    reported.add(node)
                    yield self.hit(source, node)

    def _evaluated(self, source: SourceFile, loop: ast.AST) -> set[str]:
        nodes = loop_reach(source, loop)
        return {n for e in evals(source, nodes) for a in e.args for n in names_in(a)}
