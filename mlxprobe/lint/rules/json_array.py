"""MLX157: an MLX array handed to `json.dump`/`json.dumps`: the encoder knows Python numbers,
not arrays, and raises TypeError ("Object of type array is not JSON serializable") the first
time the line runs, often a logging step after a whole epoch. An optimizer's
`learning_rate` is such an array (MLX optimizers keep it in their state), as are a loss or a
metric that was never `.item()`'d.

Measured (mlx 0.32.4 CPU, failure corpus fresh49 `jsonl_lr_logger`, bert-playground
13ae484): a metrics logger's record holding `trainer.optimizer.learning_rate` raised at
its first write, step 250; `float(...)` fixed it.

Job: a dict display given to `json.dump(s)` (inline, or a local name bound to one) whose
values hold an `<optimizer>.learning_rate` (a receiver whose last name holds `opt`) or an
array the function's dataflow shows, not wrapped in `float()`, `.item()` or `.tolist()`.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import arrays_in, is_array
from ..finding import Finding
from ..flow import local_values
from ..names import last_name
from ..source import FUNCTIONS, SourceFile
from .base import Rule

DUMPS = frozenset({"json.dump", "json.dumps"})


def learning_rate(node: ast.AST) -> bool:
    """`optimizer.learning_rate`, `trainer.opt.learning_rate`."""
    return isinstance(node, ast.Attribute) and node.attr == "learning_rate" and "opt" in (
        last_name(node.value) or "").lower()


def record(source: SourceFile, call: ast.Call) -> ast.Dict | None:
    """The dict display `json.dump(s)` is given, inline or through a local name."""
    given = call.args[0] if call.args else None
    if isinstance(given, ast.Dict):
        return given
    bound = local_values(source, call, given) if given is not None else []
    return bound[0] if len(bound) == 1 and isinstance(bound[0], ast.Dict) else None


class ArrayToJson(Rule):
    """MLX157: `json.dumps({"lr": optimizer.learning_rate})`."""

    id = "MLX157"
    anchors = ("json.dump",)
    local = True  # reads the function that dumps: only the blocks with a `json.dump`

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `json.dump` beside a learning rate or an MLX call (a config saved alone is
        neither)."""
        return "json.dump" in text and ("learning_rate" in text or "mx." in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in DUMPS:
                continue
            shown = record(source, call)
            if shown is not None and any(self._array(source, v, call) for v in shown.values):
                yield self.hit(source, call)

    @staticmethod
    def _array(source: SourceFile, value: ast.AST, call: ast.Call) -> bool:
        if learning_rate(value):
            return True
        scope = source.enclosing(call)
        arrays = arrays_in(source, scope) if isinstance(scope, FUNCTIONS) else set()
        return is_array(source, value, arrays)
