"""MLX147: a method called on an `mlx.optimizers` optimizer that MLX's optimizers do not have,
most often PyTorch's (`optimizer.zero_grad()`, `optimizer.step()`, a scheduler's
`set_learning_rate(...)`): AttributeError (TypeError for `step`, a property holding an
array) when the line first runs, which in a schedule or a periodic branch is after the model
is built and the data loaded.

Measured (mlx 0.32.4 CPU, failure corpus fresh43 `lr_setter_method_missing`, from
mlx_rl_trainer's fix commit): `optimizer.set_learning_rate(lr)` in the scheduler step raised
`AttributeError: 'AdamW' object has no attribute 'set_learning_rate'` at the first update;
with `optimizer.learning_rate = lr` (a settable attribute) the run trained to 0.998
accuracy. An optimizer's methods and attributes are `mlx_api.OPTIMIZER_ATTRIBUTES`
(checked against the installed mlx by a test).

Job: names bound only to a construction of an `mlx.optimizers` class (`optimizer =
optim.AdamW(...)`, `self.opt = optim.SGD(...)`), then `name.method(...)` with a method not
among the optimizers' callables; calling a property (`step`, `state`, `learning_rate`) is
reported too. A name also bound as a part of a tuple or a loop's target is another value
there, and is left alone. A module with its own `Optimizer` subclass is left alone (its
methods are its own).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assigned
from ..mlx_api import MODULES, OPTIMIZER_METHODS
from ..source import SourceFile
from .base import Rule

CLASSES = frozenset(n for n in MODULES["mlx.optimizers"] if n[:1].isupper()) - {
    "Callable", "List", "Module", "Optional", "Tuple", "Union"}


def key(node: ast.AST) -> str | None:
    """`opt` or `self.opt`: a name or an attribute of a name, as text."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


class MissingOptimizerMethod(Rule):
    """MLX147: `optimizer.set_learning_rate(lr)` on an `optim.AdamW`."""

    id = "MLX147"
    anchors = ("optimizers",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "optimizers" in text and "(Optimizer)" not in text and \
            "Optimizer)" not in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        bound = self._optimizers(source)
        for call in source.of_type(ast.Call):
            func = call.func
            if (isinstance(func, ast.Attribute) and key(func.value) in bound
                    and func.attr not in OPTIMIZER_METHODS and not func.attr.startswith("_")):
                yield self.hit(source, call)

    @staticmethod
    def _optimizers(source: SourceFile) -> set[str]:
        """Names every binding of which constructs an mlx.optimizers class."""
        kinds: dict[str, set[bool]] = {}
        for node in source.of_type(ast.Assign):
            for target in node.targets:
                name = key(target)
                if name is not None:
                    made = source.imports.resolve(node.value.func) if isinstance(
                        node.value, ast.Call) else None
                    kinds.setdefault(name, set()).add(
                        made is not None and made.rpartition(".")[0] == "mlx.optimizers"
                        and made.rpartition(".")[2] in CLASSES)
        for name in unpacked(source):
            kinds.setdefault(name, set()).add(False)
        return {name for name, made in kinds.items() if made == {True}}


def unpacked(source: SourceFile) -> set[str]:
    """Names bound as parts of a tuple or as a loop's target (`total, (o, b) = parts(...)`,
    `for o in outs`): values of another kind than the optimizer a plain binding of the same
    name makes elsewhere (fresh357 `varroa_strip_yield_effect`, correct: `o =
    optim.AdamW(...)` in its builder, `o.item()` of an unpacked loss part in its loop)."""
    found: set[str] = set()
    for node in source.of_type(ast.Assign, ast.For, ast.comprehension):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        found.update(name for target in targets if not (
            isinstance(node, ast.Assign) and isinstance(target, ast.Name))
            for name in assigned(target))
    return found
