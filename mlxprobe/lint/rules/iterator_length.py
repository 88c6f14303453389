"""MLX249: `len(train_loader)` where `train_loader` is an instance of one of the module's own
classes that iterates (`__iter__` or `__next__`) but defines no `__len__` and inherits from
nothing that could: `len()` raises TypeError, typically where a training script averages an
epoch's loss, after the whole first epoch has run.

Measured (mlx 0.32.4 CPU, failure corpus fresh248 `barnacle_saltmarsh_mpnn`, after
MLX-MPNN's train.py over an mlx_graphs-style Dataloader with no `__len__`): "TypeError: object
of type 'Dataloader' has no len()" at `train_loss / len(train_loader)` after epoch 1; counting
the batches in the loop, the run trained (test accuracy 0.900).

Job: the module's classes with `__iter__`/`__next__`, no `__len__`, and no base other than
`object`; a `len(name)` call whose name every assignment in the module binds to such a class
(`flow.instances`) and that is not a parameter of the function around the call.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import arguments, instances, method_of
from ..source import SourceFile
from .base import Rule


def lengthless_iterator(cls: ast.ClassDef) -> bool:
    """Iterates, has no `__len__`, and inherits only from `object` (or nothing)."""
    plain = all(isinstance(b, ast.Name) and b.id == "object" for b in cls.bases)
    return plain and not cls.keywords and method_of(cls, "__len__") is None and (
        method_of(cls, "__iter__") is not None or method_of(cls, "__next__") is not None)


class LenOfIterator(Rule):
    """MLX249: `avg_train_loss = train_loss / len(train_loader)` over a Dataloader class
    with `__iter__` and no `__len__`."""

    id = "MLX249"
    anchors = ("len(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "len(" in text and ("def __iter__" in text or "def __next__" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        made = {name for name, cls in instances(source).items() if lengthless_iterator(cls)}
        for call in source.of_type(ast.Call) if made else ():
            if (isinstance(call.func, ast.Name) and call.func.id == "len" and len(call.args) == 1
                    and isinstance(call.args[0], ast.Name) and call.args[0].id in made
                    and call.args[0].id not in self._parameters(source, call)):
                yield self.hit(source, call)

    @staticmethod
    def _parameters(source: SourceFile, call: ast.Call) -> set[str]:
        function = source.enclosing(call)
        return arguments(function) if function is not None else set()
