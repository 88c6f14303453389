"""MLX087: an array computed in a module's forward pass stored on the module
(`self.skip = h` in `__call__`).

Job: an `nn.Module` collects every public attribute that holds an array as a parameter.
An activation stored on `self` during `__call__` (to reuse it in the same call, for a
residual or a cache) is therefore a parameter from then on: the first gradient tree has no
entry for it while the next one does (or the optimizer's state does not), and
`optimizer.update` raises `KeyError` at the second step; where it does not, the activation is
trained and kept alive across steps. Kept in a local variable, or under a name starting
with `_` (which `Module` does not collect), it is an activation again. Measured (mlx 0.32.4
CPU, failure corpus fresh10 `b10_residual_cached_on_self`): `self.skip = h` in a block's
`__call__`: `KeyError: 'skip'` in the second `optimizer.update`; with a local `skip = h`
it trains.

Fires on `self.<public name> = <value>` inside `__call__` of a class deriving from an
`mlx.nn` class, where the value reads one of the call's arguments or a local name made
from them (a number or a constant stored on `self` is left alone, and so is a running
statistic that reads its own old value, `self.H = self.H + x.T @ x`: a calibration pass's
accumulator, mlx-lm's GPTQ).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import body_assignments, derived, method_of, names_in, self_attr
from ..source import SourceFile, descendants
from .base import Rule

STORED = re.compile(r"\n[ \t]+self\.[A-Za-z]\w* = ")


def forward_of(cls: ast.ClassDef) -> ast.AST | None:
    return method_of(cls, "__call__")


def from_inputs(forward: ast.AST) -> set[str]:
    """The call's arguments (not `self`) and the local names made from them."""
    made: set[str] = set()
    for arg in [a.arg for a in forward.args.args[1:]]:
        made |= derived(forward.body, arg)
    return made


def reads_self(value: ast.AST) -> set[str]:
    """The `self.x` attributes a value reads (`self.H + x.T @ x` reads `H`)."""
    return {a for n in descendants(value) if (a := self_attr(n))}


class ActivationOnModule(Rule):
    """MLX087: `self.skip = h` in `__call__`, `h` made from the input."""

    id = "MLX087"
    anchors = ("def __call__(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `self.x = ` line (public x) in the text of a `__call__`, up to the next
        method or class."""
        at = text.find("def __call__(")
        while at >= 0:
            end = min((e for e in (text.find("\n    def ", at + 1), text.find("\nclass ", at + 1))
                       if e >= 0), default=len(text))
            if STORED.search(text, at, end):
                return True
            at = text.find("def __call__(", end)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            forward = forward_of(cls)
            if forward is None:
                continue
            inputs = from_inputs(forward)
            for target, value in body_assignments(source, forward):
                name = self_attr(target)
                if name and not name.startswith("_") and names_in(value) & inputs \
                        and name not in reads_self(value):
                    yield self.hit(source, target)
