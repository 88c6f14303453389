"""MLX071: a module whose `__init__` derives an array from one of its parameters and whose
forward reads only the derived copy: the parameter never gets a gradient.

Job: in an nn.Module subclass, find `self.derived = f(self.weight)` in `__init__`, where
`self.weight` is bound there to an MLX array (a parameter: a public attribute holding an
array, `self.weight = mx....` on one line), when no method other than `__init__` reads
`self.weight` and `__call__` reads `self.derived`. The derived array is computed once, from
the initial values: `value_and_grad` differentiates the forward, which never touches
`weight`, so `weight`'s gradient is zero and the optimizer never moves it (a private
`_derived` is not even a parameter; a public one trains on its own, and the
reparameterisation is lost). Measured (mlx 0.32.4 CPU, failure corpus fresh7
`weightnorm_cached_direction_frozen`, mlx-swift issue 166): weight norm's direction `v /
||v||` cached in `__init__`: `v` unchanged in 7 looks over 1392 steps while `g` and the bias
trained; computed in `__call__`, the loss fell 0.26 -> 0.03.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import holds_mx_call, module_classes
from ..finding import Finding
from ..flow import body_assignments, self_attr
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

PARAMETER = re.compile(r"self\.(\w+) = mx\.")
# `self.w = ` and the rest of its line; then the `self.v` that rest reads (fixed patterns:
# one built from each file's names is compiled anew for each file)
DERIVED = re.compile(r"self\.\w+ = ([^\n]*)")
READ = re.compile(r"self\.(\w+)\b")


def methods(cls: ast.ClassDef) -> dict[str, ast.AST]:
    return {f.name: f for f in cls.body if isinstance(f, FUNCTIONS)}


def reads(function: ast.AST) -> set[str]:
    """The `self.x` attributes a method reads."""
    return {a for n in descendants(function) if isinstance(getattr(n, "ctx", None), ast.Load)
            and (a := self_attr(n))}


def parameters(source: SourceFile, init: ast.AST) -> set[str]:
    """Public `self.x` attributes `__init__` binds to an MLX array (`mx.random.normal(...)`)."""
    return {a for t, v in body_assignments(source, init) if (a := self_attr(t))
            and not a.startswith("_") and holds_mx_call(source, v)}


class DerivedOnce(Rule):
    """MLX071: `self.w = f(self.v)` in `__init__`, the forward reading `self.w`, no method
    but `__init__` reading `self.v`."""

    id = "MLX071"
    anchors = (" = mx.",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `self.v = mx.` binding, and a `self.w = ...self.v` line."""
        if "__call__" not in text or " = mx." not in text:
            return False
        bound = set(PARAMETER.findall(text))
        return bool(bound) and any(not bound.isdisjoint(READ.findall(rest))
                                   for rest in DERIVED.findall(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            found = methods(cls)
            init, forward = found.get("__init__"), found.get("__call__")
            if init is None or forward is None:
                continue
            bound = parameters(source, init)
            if not bound:
                continue
            read_elsewhere = set().union(*(reads(f) for n, f in found.items() if n != "__init__"))
            frozen = bound - read_elsewhere
            for target, value in body_assignments(source, init):
                derived = self_attr(target)
                if derived in reads(forward) and frozen & reads(value) and isinstance(
                        value, (ast.BinOp, ast.Call, ast.UnaryOp)):
                    yield self.hit(source, target)
