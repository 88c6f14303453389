"""MLX107: `mx.value_and_grad(f)` (or `mx.grad`) called with an instance of one of the
module's plain classes at a differentiated position (`loss_and_grad(self.policy)` where
`self.policy = ActorCriticPolicy(...)`, a class deriving from nothing). The transformation
differentiates trees of arrays (arrays, lists, tuples, dicts, `nn.Module`s); any other
object raises `ValueError: [tree_flatten] The argument should contain only arrays` at the
first call. mlx-baselines3's phase-4 bug list, bug 1 (failure corpus fresh17
`ppo_policy_object_vag`: the first PPO update raised it after a 256-step rollout;
`nn.value_and_grad(policy.net, loss_fn)` trained, mean episode reward 0.556 -> 0.970).

Job: find the calls of a gradient function (a name or `self.x` bound to `mx.value_and_grad`
or `mx.grad`, or the transformation called in place) and, at each position it
differentiates, an argument bound to a plain class's instance (a local name, a module-level
name, or a `self.x` the enclosing class binds).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import grad_functions
from ..finding import Finding
from ..flow import assignments, body_assignments, self_attr
from ..names import MX_GRAD, dotted
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .gradients import argnums

# a class deriving from nothing: `class Policy:`, `class Policy():`, `class Policy(object):`
PLAIN = re.compile(r"^[ \t]*class \w+(?:\(\s*(?:object)?\s*\))?:", re.MULTILINE)


def plain_classes(source: SourceFile) -> dict[str, ast.ClassDef]:
    """The module's classes that derive from nothing (or `object`): not a tree of arrays."""
    return {c.name: c for c in source.of_type(ast.ClassDef)
            if all(isinstance(b, ast.Name) and b.id == "object" for b in c.bases)}


def transform_of(source: SourceFile, call: ast.Call) -> ast.Call | None:
    """The `mx.value_and_grad(...)` call whose result `call` calls."""
    func = call.func
    if isinstance(func, ast.Call) and source.imports.resolve(func.func) in MX_GRAD:
        return func
    parts = dotted(func)
    return grad_functions(source).get(".".join(parts)) if parts else None


def differentiated_args(source: SourceFile) -> Iterator[tuple[ast.Call, ast.AST]]:
    """(call, argument) for each argument a call of a gradient function differentiates."""
    for call in source.of_type(ast.Call):
        transform = transform_of(source, call)
        positions = argnums(transform) if transform is not None else None
        yield from ((call, call.args[i]) for i in sorted(positions or ()) if i < len(call.args))


def built_class(value: ast.AST, classes: dict[str, ast.ClassDef]) -> str | None:
    """`Cls` of a `Cls(...)` value, when `Cls` is one of `classes`."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
            value.func.id in classes:
        return value.func.id
    return None


def bindings(source: SourceFile, node: ast.AST, call: ast.Call) -> list[ast.AST]:
    """What a `self.x` argument is bound to in the enclosing class's methods, or a plain
    name in the call's scope and at the module's top level (no other argument: [])."""
    attr = self_attr(node)
    if attr is not None:
        cls = source.enclosing(call, (ast.ClassDef,))
        return [v for f in (cls.body if cls else []) if isinstance(f, FUNCTIONS)
                for t, v in body_assignments(source, f) if self_attr(t) == attr]
    if not isinstance(node, ast.Name):
        return []
    scope = source.enclosing(call) or source.tree
    return [v for t, v in [*body_assignments(source, scope), *assignments(source.tree.body)]
            if isinstance(t, ast.Name) and t.id == node.id]


def instance_of(source: SourceFile, node: ast.AST, call: ast.Call,
                classes: dict[str, ast.ClassDef]) -> str | None:
    """The plain class an argument is an instance of, when every binding makes that class."""
    made = {built_class(v, classes) for v in bindings(source, node, call)}
    return made.pop() if len(made) == 1 and None not in made else None


class ObjectDifferentiated(Rule):
    """MLX107: a gradient function handed a plain object where it differentiates."""

    id = "MLX107"
    anchors = ("grad(",)
    local = False  # the class, its binding and the call sit in different blocks

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and PLAIN.search(text) is not None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        classes = plain_classes(source)
        if not classes:
            return
        for call, argument in differentiated_args(source):
            if instance_of(source, argument, call, classes):
                yield self.hit(source, argument)
