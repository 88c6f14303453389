"""MLX149: `mx.arange` given an array scalar: a reduction's result (`t.max()`, `np.sum(a)`,
`mx.max(t)`) is a 0-d MLX array or a NumPy scalar, and `mx.arange` takes Python numbers
only, so it raises TypeError ("arange(): incompatible function arguments ... Invoked with
types: mlx.core.array") when the line first runs; `int(...)` or `.item()` fixes it.

Measured (mlx 0.32.4 CPU): `mx.arange(a.max())`, `mx.arange(m.max())`, `mx.arange(np.sum(a))`
and `mx.arange(0, a.max())` raise TypeError for `a = np.array([3, 5])`, `m = mx.array([3, 5])`;
`mx.arange(int(a.max()))` and `mx.arange(a.max().item())` run. Failure corpus fresh44
`lens_mask_arange` (f5-tts-mlx e0bae96): a padding mask's `length = t.max()` passed to
`mx.arange` raised at the first loss.

Job: an argument of `mx.arange` that is a reduction (a method `.max()`, `.min()`, `.sum()`,
`.prod()`, `.argmax()`, `.argmin()`, `.mean()`, or a `numpy.`/`mlx.core.` function of those
names), or a local name every binding of which is one. Builtin `max(...)` is left alone (of a
list it is a Python number).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..bindings_text import bound_at
from ..finding import Finding
from ..flow import local_values
from ..names import last_name
from ..source import SourceFile
from .base import Rule

REDUCTIONS = frozenset({"max", "min", "sum", "prod", "argmax", "argmin", "mean"})
MODULES = ("numpy.", "mlx.core.")
ARANGE_ARGS = re.compile(r"arange\(([^)\n]*)")
REDUCED = re.compile(r"(?:\.|\b(?:np|mx|numpy)\.)(?:max|min|sum|prod|argmax|argmin|mean)\(")
NAME = re.compile(r"\b[A-Za-z_]\w*\b")



def reduction(source: SourceFile, node: ast.AST) -> bool:
    """`x.max()` (a method), or `np.max(x)` / `mx.max(x)`."""
    if not isinstance(node, ast.Call):
        return False
    name = source.imports.resolve(node.func) or ""
    if name.startswith(MODULES) and name.rpartition(".")[2] in REDUCTIONS:
        return True
    return (isinstance(node.func, ast.Attribute) and node.func.attr in REDUCTIONS
            and not name.startswith(MODULES) and not node.args[1:])


def array_scalar(source: SourceFile, node: ast.AST) -> bool:
    """A reduction, or a local name bound only to reductions."""
    if reduction(source, node):
        return True
    values = local_values(source, node, node)
    return bool(values) and all(reduction(source, v) for v in values)


def _bound_to_reduction(text: str, name: str) -> bool:
    """A line `name = ...` of the text that holds a reduction (str.find: a regex per name
    over the whole text cost 0.09 s over the three packages)."""
    return any(REDUCED.search(text, at, end) for at, end in bound_at(text, name))


class ArangeOfArrayScalar(Rule):
    """MLX149: `mx.arange(t.max())`."""

    id = "MLX149"
    anchors = ("arange(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """An `arange(` whose argument text holds a reduction, or a name the text binds to
        one (text only: most files with an `arange(` give it a plain size, and parsing them
        all cost 69 files of the three packages)."""
        if "arange(" not in text or "mlx" not in text:
            return False
        calls = ARANGE_ARGS.findall(text)
        if any(REDUCED.search(args) for args in calls):
            return True
        names = {n for args in calls for n in NAME.findall(args)}
        return any(_bound_to_reduction(text, name) for name in names)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if last_name(call.func) != "arange" or \
                    source.imports.resolve(call.func) != "mlx.core.arange":
                continue
            bad = next((a for a in call.args if array_scalar(source, a)), None)
            if bad is not None:
                yield self.hit(source, bad)
