"""MLX269: each training step's parameter tree or optimizer state kept in a list that outlives
the step (`history.append((loss, model.parameters(), optimizer.state))`): after every update
these are new arrays, so the list holds one more copy of the model (and of its optimizer
moments) per step until it is dropped, and evaluating it all at the epoch's end computes and
keeps every one of them at once.

Measured (mlx 0.32.4 CPU, failure corpus fresh306 `harbor_lamp_epochsweep`, after
mlx-playground b95cc35, whose YOLO trainer appended `(loss, components, model.parameters(),
optimizer.state)` for every batch and evaluated the list once an epoch): peak MLX memory
119.6 / 218.0 / 218.1 MB per epoch and max RSS 278 MB, against 33.0 MB and 88 MB when each
step evaluates its own loss, with the same losses.

Job: `kept.append(v)` whose innermost loop is one that steps an optimizer there (an
`optimizer.update` or a module helper that calls one, not in a loop nested inside), `kept`
bound outside that loop (or an attribute), and `v` is, or holds as a tuple, list or dict
element, `<x>.parameters()`, `<x>.trainable_parameters()` or `<optimizer>.state`. A snapshot
taken once an epoch, outside the step's loop (stochastic weight averaging), and a
`deque(maxlen=N)` (the last N versions) are left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assigned, body_assignments, calls, helper_of, reach, walk
from ..names import last_name
from ..source import LOOPS, SourceFile
from .base import Rule
from .evaluation import is_optimizer_update

TREES = frozenset({"parameters", "trainable_parameters"})


def state_tree(node: ast.AST) -> bool:
    """`m.parameters()`, `m.trainable_parameters()`, `opt.state`, or a tuple, list or dict
    holding one."""
    if isinstance(node, (ast.Tuple, ast.List)):
        return any(state_tree(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return any(state_tree(v) for v in node.values)
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Attribute) and node.func.attr in TREES and not node.args
    return isinstance(node, ast.Attribute) and node.attr == "state" and "opt" in (
        last_name(node.value) or "").lower()


def innermost(source: SourceFile, node: ast.AST) -> ast.AST | None:
    return source.enclosing(node, LOOPS)


def steps_here(source: SourceFile, loop: ast.AST) -> bool:
    """An optimizer update (or a module helper that makes one) whose innermost loop is this."""
    for call in calls(walk(loop.body)):
        if innermost(source, call) is not loop:
            continue
        helper = helper_of(source, call)
        if is_optimizer_update(source, call) or helper is not None and any(
                is_optimizer_update(source, c) for c in calls(reach(source, helper.body))):
            return True
    return False


def outlives(loop: ast.AST, kept: ast.AST) -> bool:
    """The list is an attribute, or a name the loop's body never binds."""
    if not isinstance(kept, ast.Name):
        return isinstance(kept, ast.Attribute)
    return not any(kept.id in set(assigned(t)) for n in walk(loop.body)
                   if isinstance(n, ast.Assign) for t in n.targets)


class KeptState(Rule):
    """MLX269: `history.append((loss, model.parameters(), optimizer.state))` per step."""

    id = "MLX269"
    anchors = (".append(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".append(" in text and ("parameters()" in text or ".state" in text) and (
            "update(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if self._kept(source, call):
                yield self.hit(source, call)

    def _kept(self, source: SourceFile, call: ast.Call) -> bool:
        func = call.func
        if not (isinstance(func, ast.Attribute) and func.attr == "append" and len(call.args) == 1
                and state_tree(call.args[0])):
            return False
        loop = innermost(source, call)
        return loop is not None and outlives(loop, func.value) and steps_here(
            source, loop) and not capped(source, func.value)


def capped(source: SourceFile, kept: ast.AST) -> bool:
    """The list is a name its scope binds only to `deque(..., maxlen=N)`: it keeps the last
    N trees, not one more per step (fresh353 `locksmith_stale_workers`, correct: the server's
    last three versions kept for workers that read stale weights)."""
    if not isinstance(kept, ast.Name):
        return False
    scope = source.enclosing(kept) or source.tree
    values = [v for t, v in body_assignments(source, scope)
              if isinstance(t, ast.Name) and t.id == kept.id]
    return bool(values) and all(
        isinstance(v, ast.Call) and last_name(v.func) == "deque" and any(
            k.arg == "maxlen" and not (isinstance(k.value, ast.Constant) and k.value.value is None)
            for k in v.keywords) for v in values)

