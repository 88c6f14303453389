"""MLX219: state a module updates as it runs, kept under a name that starts with `_`: MLX
leaves such attributes out of `parameters()`, so `save_weights` never writes it and a
restored model runs with its initial value.

Measured (mlx 0.32.4 CPU, failure corpus fresh212 `rennet_curd_runstats_ckpt`, mlx PR 305
made BatchNorm's running statistics public for this reason): a hand-written norm layer kept
`self._running_mean` / `self._running_var`, updated at each training call; training was the
same as with public names (val acc 97.3%, the live model's test acc 95.2%), but the best
checkpoint, saved with `save_weights` and loaded into a fresh model with `strict=True`,
normalised with mean 0 and variance 1 and scored 26.7% (chance 33.3%); with public, frozen
statistics the restored model scored 95.2%. `load_weights(strict=True)` raised nothing: the
file and the model both lacked the keys.

Job: in an nn.Module subclass of a file that saves or loads weights (`save_weights`,
`load_weights`, `save_safetensors`, `savez`), a `self._x = ...` in `__init__` whose value is
one of MLX's array initialisers (`unread_parameter.initialised`), rebound in another method
of the class from an expression that reads `self._x` (a running update). A private constant
(a RoPE table, a mask) is never rebound from itself and is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import body_assignments, self_attr
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule
from .unread_parameter import initialised

CHECKPOINTS = ("save_weights", "load_weights", "save_safetensors", "savez")


class PrivateState(Rule):
    """MLX219: `self._running_mean = mx.zeros(d)`, then `self._running_mean = (1 - m) *
    self._running_mean + m * mean` in `__call__`, and `model.save_weights(path)`."""

    id = "MLX219"
    anchors = ("self._",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "self._" in text and any(word in text for word in CHECKPOINTS)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not any(isinstance(n.func, ast.Attribute) and n.func.attr in CHECKPOINTS
                   for n in source.of_type(ast.Call)):
            return
        for cls in module_classes(source):
            methods = [f for f in cls.body if isinstance(f, FUNCTIONS)]
            updated = {name for f in methods if f.name != "__init__"
                       for name in running_updates(source, f)}
            for init in (f for f in methods if f.name == "__init__"):
                yield from (self.hit(source, target) for target, value
                            in body_assignments(source, init)
                            if (name := self_attr(target)) and name.startswith("_")
                            and name in updated and initialised(source, value))


def running_updates(source: SourceFile, method: ast.AST) -> set[str]:
    """The `_x` of each `self._x = ...` in `method` whose value reads `self._x`."""
    return {name for target, value in body_assignments(source, method)
            if (name := self_attr(target)) and name.startswith("_")
            and any(self_attr(n) == name for n in descendants(value))}
