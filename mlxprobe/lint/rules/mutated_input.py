"""MLX247: a layer's forward (`__call__` of an `nn.Module` subclass) updates its input array
in place, `x += self.ff(x)` or `x[..., :d] = s * x[..., :d]`, before it rebinds the name. On
an `mlx.core.array`, `+=` and a slice assignment overwrite the array object itself, so the
caller's array changes too: a batch gathered per step (`X[idx]`) is a fresh copy and training
looks right, but `model(X_val)` on a kept array rewrites the validation set at each call.

Measured (mlx 0.32.4 CPU): `a = mx.array([1., 2.]); b = a; a += 1` leaves `b` as [2, 3];
`a[0] = 5` leaves `b` as [5, 2]. Failure corpus fresh190 `chirp_conformer_inplace` (after
parakeet-mlx's ConformerBlock, fixed by "fix potential array referring issues"): val-acc
46-55% and val-loss rising 1.73 -> 2.96 while the twin written `x = x + ...` reached 99.0%;
fresh45 `yarn_rope_input_mutation` (YaRN's `x[..., :dims] = mscale * x[..., :dims]`): the
reported validation MSE climbed 0.11 -> 29.6 while the model was fine (copy first: 0.014).

Job: per `__call__` of a class deriving from an `mlx.nn` class (directly or through the
module's own classes: `construction.module_classes`), its first input (the parameter after
`self`, with no default): an augmented assignment to it, or an assignment into a slice of it
(an index holding a slice or `...`), placed before any plain assignment that rebinds it. A
dict-like key (`cache[k] =`) is not a slice and is not flagged.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes
from ..patterns import at_word
from ..source import SourceFile
from .base import Rule
from .construction import module_classes


def first_input(function: ast.AST) -> str | None:
    """`x` of `def __call__(self, x, mask=None)`; None when it has a default."""
    positional = [*function.args.posonlyargs, *function.args.args]
    return positional[1].arg if len(positional) - len(function.args.defaults) >= 2 else None


def sliced(node: ast.AST) -> bool:
    """An index holding a slice or `...` (`x[..., :d]`, `x[:, 0]`)."""
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    return any(isinstance(p, ast.Slice) or isinstance(p, ast.Constant) and p.value is Ellipsis
               for p in parts)


def in_place(node: ast.AST, name: str) -> bool:
    """`name += ...`, or `name[<slice>] = ...`."""
    if isinstance(node, ast.AugAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == name
        and sliced(t.slice) for t in node.targets)


def rebinds(node: ast.AST, name: str) -> bool:
    return isinstance(node, (ast.Assign, ast.AnnAssign, ast.For)) and any(
        isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        for n in ast.walk(t))


# `def __call__(self, x`: the first input's name, however the signature is laid out
FIRST_INPUT = re.compile(r"def __call__\(\s*self\s*,\s*(\w+)")
# what follows the name in an in-place update: an augmented assignment, or a subscript (no
# `=` inside it, lines may break) assigned to
IN_PLACE = r"(?:(?:[-+*/@%&|^]|//|\*\*|>>|<<)=(?!=)|\[[^=]*?\]\s*=(?!=))"


class MutatedInput(Rule):
    """MLX247: `def __call__(self, x): x += 0.5 * self.ff1(self.norm(x))`."""

    id = "MLX247"
    anchors = ("__call__",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `def __call__(self, x` whose `x` the text updates in place (`x += `, `x[...] = `):
        most forwards of the three packages never write to their input (files let through
        743 -> 19)."""
        if "def __call__" not in text or not ("+=" in text or "-=" in text or "*=" in text
                                              or "/=" in text or "] = " in text):
            return False
        return any(at_word(rf"\b{name}\s*{IN_PLACE}").search(text)
                   for name in set(FIRST_INPUT.findall(text)))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            for method in cls.body:
                if isinstance(method, ast.FunctionDef) and method.name == "__call__":
                    yield from self._mutations(source, method)

    def _mutations(self, source: SourceFile, method: ast.FunctionDef) -> Iterator[Finding]:
        name = first_input(method)
        statements = sorted((n for n in body_nodes(source, method) if isinstance(n, ast.stmt)),
                            key=lambda n: (n.lineno, n.col_offset))
        for statement in statements if name else ():
            if in_place(statement, name):
                yield self.hit(source, statement)
                return
            if rebinds(statement, name):
                return
