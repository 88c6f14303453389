"""MLX036: `mx.stop_gradient` on a value computed from a layer of the module that reaches
the method's result only through it and is used nowhere else: that layer never trains.

Job: follow one method's local names from a stop_gradient back to the module's layers, and
from its results with stop_gradient as a barrier, to find a layer cut from the loss.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import returns_of
from ..finding import Finding
from ..flow import assigned, body_nodes, calls, helper_of, self_attr
from ..source import FUNCTIONS, SourceFile
from .base import Rule, differentiates
from .differentiation import STOP, differentiated_nodes


class Trace:
    """The `self.<layer>(...)` calls an expression in one method is computed from, through
    the local names it reads (the binding before the read, in source order), optionally
    not crossing `mx.stop_gradient`."""

    def __init__(self, source: SourceFile, function: ast.AST) -> None:
        self.source, self.defs = source, {}
        for node in body_nodes(source, function):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value:
                for target in getattr(node, "targets", None) or [node.target]:
                    for name in assigned(target):
                        self.defs.setdefault(name, []).append(node)

    def binding(self, name: str, line: int) -> ast.AST | None:
        before = [d for d in self.defs.get(name, []) if d.lineno < line]
        return max(before, key=lambda d: d.lineno).value if before else None

    def bindings(self, name: str, line: int) -> list[ast.AST]:
        """The value of the binding before the read, and of any earlier one in the other
        branch of an `if` that holds it (`if self.training: y = ... else: y = ...`: both
        reach the read; fresh45 `moe_expert_buffer_rows_ok`, whose gate reaches the result
        through the training branch's `y * scores`, was read through the other branch only)."""
        before = sorted((d for d in self.defs.get(name, []) if d.lineno < line),
                        key=lambda d: d.lineno)
        if not before:
            return []
        latest = before[-1]
        return [latest.value] + [d.value for d in before[:-1] if self._apart(d, latest)]

    def _apart(self, one: ast.AST, other: ast.AST) -> bool:
        """`one` and `other` sit in the two branches of one `if`."""
        node = self.source.parents.get(other)
        while node is not None:
            if isinstance(node, ast.If):
                sides = [n for n in (node.body, node.orelse) if any(
                    _holds(stmt, other) for stmt in n)]
                if sides and any(_holds(stmt, one) for stmt in (
                        node.orelse if sides[0] is node.body else node.body)):
                    return True
            node = self.source.parents.get(node)
        return False

    def layers(self, node: ast.AST, line: int, barrier: bool) -> set[ast.Call]:
        found: set[ast.Call] = set()
        todo, seen = [(node, line)], set()
        while todo:
            current, at = todo.pop()
            if barrier and isinstance(current, ast.Call) and self.source.imports.resolve(
                    current.func) in STOP:
                continue
            if isinstance(current, ast.Call) and self_attr(current.func) is not None:
                found.add(current)
            if isinstance(current, ast.Name) and (current.id, at) not in seen:
                seen.add((current.id, at))
                todo += [(value, value.lineno) for value in self.bindings(current.id, at)]
            todo += [(kid, at) for kid in ast.iter_child_nodes(current)]
        return found


def _holds(stmt: ast.AST, node: ast.AST) -> bool:
    return stmt is node or any(n is node for n in ast.walk(stmt))


CHANGES = frozenset({"update", "load_weights", "freeze", "unfreeze", "apply", "set_dtype",
                     "update_modules"})


def attribute_uses(source: SourceFile, attr: str) -> list[ast.Attribute]:
    """The reads of `<anything>.attr` in the module that may run or change the layer: a
    call of it, a changing method of it (`.update(...)`, an EMA copy), or the layer handed
    to a function that is not the module's own read-only helper. A read for a printout
    (`snapshot(model.router)`, `model.router.parameters()`) is not one."""
    return [n for n in source.of_type(ast.Attribute) if n.attr == attr
            and isinstance(n.ctx, ast.Load) and may_change(source, n)]


def may_change(source: SourceFile, use: ast.Attribute) -> bool:
    parent = source.parents.get(use)
    if isinstance(parent, ast.Call) and parent.func is use:
        return True
    if isinstance(parent, ast.Attribute):  # `x.router.update(...)`, `x.router.weight = w`
        return parent.attr in CHANGES or isinstance(parent.ctx, ast.Store)
    if isinstance(parent, ast.Call):  # handed over as an argument
        helper = helper_of(source, parent)
        return helper is None or any(
            isinstance(c.func, ast.Attribute) and c.func.attr in CHANGES
            for c in calls(body_nodes(source, helper)))
    return False


def own_methods(source: SourceFile, function: ast.AST) -> set[str]:
    """The names of the methods of the class `function` belongs to: `self.assign(z)` runs
    code of the module, not a layer with parameters (fresh94 `tonewood_vq_grading`: a VQ
    codebook's nearest-code method, its index stopped on purpose)."""
    cls = source.parents.get(function)
    return {f.name for f in getattr(cls, "body", []) if isinstance(f, FUNCTIONS)} \
        if isinstance(cls, ast.ClassDef) else set()


class StoppedLayer(Rule):
    """MLX036: `mx.stop_gradient(x)` in differentiated code where x is computed from a layer
    of the module (`self.offsets(h)`) that is used nowhere else: that layer's parameters
    get no gradient and never train. A frozen layer, one read elsewhere (an EMA copy), or
    a sub-network's output stopped whole (`stop_gradient(self.backbone(x))`, a linear probe)
    is left alone."""

    id = "MLX036"
    anchors = ("stop_gradient(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "stop_gradient(" in text and "freeze" not in text and differentiates(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        region = set(differentiated_nodes(source))
        for call in source.of_type(ast.Call):
            if call in region and source.imports.resolve(call.func) in STOP and call.args:
                if self._starves(source, call):
                    yield self.hit(source, call)

    def _starves(self, source: SourceFile, call: ast.Call) -> bool:
        """Some layer the stopped value is computed from reaches the method's result only
        through a stop_gradient, and is used nowhere else in the module."""
        function = source.enclosing(call)
        if function is None:
            return False
        trace = Trace(source, function)
        if self._whole_layer(trace, call.args[0], call.lineno):
            return False
        stopped = trace.layers(call.args[0], call.lineno, barrier=False)
        live: set[ast.Call] = set()
        for node in returns_of(function):
            live |= trace.layers(node, node.lineno, barrier=True)
        methods = own_methods(source, function)
        return any(c not in live and c.func.attr not in methods
                   and self._only_here(source, c.func.attr, stopped) for c in stopped)

    def _whole_layer(self, trace: Trace, node: ast.AST, line: int) -> bool:
        """`mx.stop_gradient(self.backbone(x))`: a sub-network's output stopped whole, a
        deliberate freeze (a linear probe), not a quantity computed from it."""
        if isinstance(node, ast.Name):
            node = trace.binding(node.id, line)
        return isinstance(node, ast.Call) and self_attr(node.func) is not None

    def _only_here(self, source: SourceFile, attr: str, stopped: set[ast.Call]) -> bool:
        funcs = {id(c.func) for c in stopped}
        return all(id(use) in funcs for use in attribute_uses(source, attr))
