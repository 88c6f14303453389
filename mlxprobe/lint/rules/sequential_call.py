"""MLX268: an `nn.Sequential` called with more than its one input: a second positional
argument or a keyword other than `x` (`self.blocks(x=x, mask=mask)`, `self.layers(h, mask)`).
`Sequential.__call__(self, x)` takes one array and hands it to each layer in turn, so the call
raises TypeError at the first forward pass; a mask or a cache meant for each block never
reaches them.

Measured (mlx 0.32.4 CPU): `nn.Sequential(nn.Linear(2, 2))(x, None)` raises "takes 2
positional arguments but 3 were given", `(x=x, mask=None)` "got an unexpected keyword argument
'mask'". Failure corpus fresh306 `quarto_folio_stanza` (mlx-minGPT f1a3fc5, "fix: blocks in
nn.Sequential did not get the mask"): a GPT whose blocks sat in an `nn.Sequential` called as
`self.blocks(x=x, mask=mask)` crashed at its first step; a list of blocks looped over, each
called `block(x, mask)`, trained.

Job: each call of a plain name or a `self.x` attribute that every binding in the module (the
name) or in its class (the attribute) makes `nn.Sequential(...)`, with two or more positional
arguments or a keyword other than `x` (none starred: their count is unknown).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import assignments, self_attr
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .layers import SEQUENTIAL


def sequential_bindings(source: SourceFile, pairs: list[tuple[ast.AST, ast.AST]],
                        key: Callable[[ast.AST], str | None]) -> set[str]:
    """The keys (`key(target)`) every one of whose bindings is an `nn.Sequential(...)`."""
    made: dict[str, bool] = {}
    for target, value in pairs:
        name = key(target)
        if name is not None:
            is_seq = isinstance(value, ast.Call) and source.imports.resolve(
                value.func) == SEQUENTIAL
            made[name] = made.get(name, True) and is_seq
    return {n for n, ok in made.items() if ok}


def plain_name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def over_given(call: ast.Call) -> bool:
    """Two or more positional arguments, or a keyword other than `x`; none starred."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords):
        return False
    return len(call.args) >= 2 or any(k.arg != "x" for k in call.keywords) or (
        len(call.args) == 1 and any(k.arg == "x" for k in call.keywords))


class SequentialCall(Rule):
    """MLX268: `self.blocks(x=x, mask=mask)` with `self.blocks = nn.Sequential(...)`."""

    id = "MLX268"
    anchors = ("Sequential(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "Sequential(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if over_given(call) and self._sequential(source, call):
                yield self.hit(source, call)

    def _sequential(self, source: SourceFile, call: ast.Call) -> bool:
        """The call runs an `nn.Sequential`: a plain name or `self.x` every binding of
        which (in the module, or in the class's methods) makes one; each scope's bindings
        read once (`source.cached`), and only for a call given more than one input."""
        if isinstance(call.func, ast.Name):
            return call.func.id in source.cached("sequential_names", source.tree, lambda: (
                sequential_bindings(source, list(assignments(ast.walk(source.tree))),
                                    plain_name)))
        attr = self_attr(call.func)
        cls = source.enclosing(call, (ast.ClassDef,)) if attr is not None else None
        return cls is not None and attr in source.cached("sequential_attributes", cls, lambda: (
            sequential_bindings(source, list(assignments(
                n for m in cls.body if isinstance(m, FUNCTIONS) for n in ast.walk(m))),
                self_attr)))
