"""MLX125: the function `nn.value_and_grad(model, fn)` (or `mx.value_and_grad(fn)`,
`mx.grad(fn)`) returns, called with fewer positional arguments than `fn` requires: the
transformation hands its arguments to `fn` unchanged, so every call raises `TypeError:
fn() missing 1 required positional argument` (PyTorch's closures take none; a refactor that
gave the loss a `model` parameter and kept the call `grad_fn()`).

Measured (mlx 0.32.4 CPU, failure corpus fresh26 `grpo_trainer_swallowed_step`, from
MLX-GRPO's fix): `def loss_fn(policy_model)` wrapped by `nn.value_and_grad(self.model,
loss_fn)` and called as `grad_fn_raw()` raised that TypeError at all 600 steps; an `except
Exception` around the step swallowed it, the run exited 0 and its reward stayed at chance
(0.09-0.11, the fixed twin 0.12 -> 0.55).

Job: find `g = <transformation>(..., fn)` with `fn` a def or lambda the module defines (no
`*args`), and calls `g(...)` in the same scope with only positional arguments, none starred,
fewer than `fn`'s parameters without defaults.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import transformed_arg
from ..finding import Finding
from ..flow import assignments, walk
from ..source import SourceFile
from .gradients import TakesGradients, visible_function


def wrapped(source: SourceFile, value: ast.AST) -> ast.AST | None:
    """The def or lambda a gradient transformation `value` wraps, when the module has it."""
    found = transformed_arg(source, value) if isinstance(value, ast.Call) else None
    if found is None or found[0] != "grad":
        return None
    return visible_function(source, value, found[1])


def required(function: ast.AST) -> int | None:
    """How many positional parameters `function` needs (None with `*args`)."""
    args = function.args
    if args.vararg is not None:
        return None
    return len(args.posonlyargs) + len(args.args) - len(args.defaults)


def short_calls(scope: ast.AST, bound: ast.Assign, name: str, need: int) -> Iterator[ast.Call]:
    """Calls `name(...)` in `scope` with only positional, unstarred arguments, fewer than
    `need`, that this binding reaches: after it and before the next `name = ...` (fresh233
    `carillon_peal_mlm_probe` and `cipher_desk_scst`: one name bound to the first stage's
    loss, then rebound to the second stage's, which takes another number of arguments)."""
    nodes = list(walk(scope.body))
    end = min((t.lineno for t, _ in assignments(nodes) if isinstance(t, ast.Name)
               and t.id == name and t.lineno > bound.lineno), default=None)
    for node in nodes:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == name and not node.keywords and len(node.args) < need and \
                not any(isinstance(a, ast.Starred) for a in node.args) and \
                bound.lineno < node.lineno and (end is None or node.lineno < end):
            yield node


class WrappedCallMissingArgument(TakesGradients):
    """MLX125: `grad_fn = nn.value_and_grad(model, loss_fn)` with `def loss_fn(m):`, then
    `grad_fn()`."""

    id = "MLX125"

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            target = node.targets[0] if len(node.targets) == 1 else None
            function = wrapped(source, node.value) if isinstance(target, ast.Name) else None
            need = required(function) if function is not None else None
            if need:
                scope = source.enclosing(node) or source.tree
                yield from (self.hit(source, c)
                            for c in short_calls(scope, node, target.id, need))
