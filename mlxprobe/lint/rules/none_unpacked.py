"""MLX174: a value that defaults to None unpacked with `**` in a call: `def __init__(...,
loss_fn_args: dict | None = None)`, `self.loss_fn_args = loss_fn_args`, and later
`self.loss_fn(logits, target, **self.loss_fn_args)`: with the default, the first training
step raises "argument after ** must be a mapping, not NoneType"; `**(x or {})` or a
default of `{}` set in the body is the fix.

Measured (mlx 0.32.4 CPU, failure corpus fresh80 `glyph_trainer_loss_args`, mlx-image commit
67ca744): a Trainer built without `loss_fn_args` raised that TypeError at its first step;
with `**(self.loss_fn_args or {})` it trained.

Job: a parameter whose default is `None`, unpacked with `**` in its own function, or bound
as it is to `self.<name>` (every binding of that attribute in the class is such a
parameter) and `**self.<name>` in a method of the class; not when the name is bound to
anything else in the function, nor when an enclosing test (an `if`, a conditional, an
`and`/`or`) reads it.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import attributes_bound_only, body_assignments, in_reach
from ..source import SourceFile
from .base import Rule
from .truncated_interval import guarded, read_name


def none_defaults(function: ast.AST) -> set[str]:
    """The parameters of `function` whose default is `None`."""
    args = function.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg for a, d in pairs if isinstance(d, ast.Constant) and d.value is None}


def unguarded_locals(source: SourceFile, function: ast.AST) -> set[str]:
    """None-default parameters the function never binds again."""
    bound = {t.id for t, _ in body_assignments(source, function) if isinstance(t, ast.Name)}
    return none_defaults(function) - bound


def none_attributes(source: SourceFile, cls: ast.ClassDef) -> set[str]:
    """`.x` for each `self.x` every binding of which in `cls` is a method's None-default
    parameter, passed on as it is."""
    return {"." + name for name in attributes_bound_only(
        source, cls, lambda method, value: isinstance(value, ast.Name)
        and value.id in unguarded_locals(source, method))}


# `**kwargs`, `**self.loss_fn_args`: the name right after `**`; a power (`x ** 2`, `a**2`)
# has a space or a digit there
UNPACKED = re.compile(r"\*\*(?:self\.)?([A-Za-z_]\w*)")


def unpacked(text: str) -> set[str]:
    return set(UNPACKED.findall(text))


# `= None`, and on its line before it, `name:` with no `=` between it and that `= None`
NONE_DEFAULT = re.compile(r"=\s*None\b")
ANNOTATION = re.compile(r"\b(\w+)\s*:")


def annotated_nones(text: str) -> set[str]:
    """Names annotated and given None on one line (`name: dict | None = None`); fixed
    patterns, where one built per name is compiled anew for each file."""
    names: set[str] = set()
    for found in NONE_DEFAULT.finditer(text):
        line = text[text.rfind("\n", 0, found.start()) + 1:found.start()]
        names.update(m.group(1) for m in ANNOTATION.finditer(line) if "=" not in line[m.end():])
    return names


def defaults_to_none(text: str, names: set[str]) -> bool:
    """One of `names` given a default of None: `name=None`, `name = None`, or annotated,
    `name: dict | None = None`."""
    if any(f"{name}=None" in text or f"{name} = None" in text for name in names):
        return True
    return any(f"{name}:" in text for name in names) and not names.isdisjoint(
        annotated_nones(text))


class NoneUnpacked(Rule):
    """MLX174: `**self.loss_fn_args` where `loss_fn_args=None` by default."""

    id = "MLX174"
    anchors = ("**",)
    local = True  # one function, or one class's methods

    @staticmethod
    def may_fire(text: str) -> bool:
        """`**name` or `**self.name` somewhere, and `name` given a default of None (`name=None`,
        `name: dict | None = None`)."""
        return "None" in text and ("(**" in text or ", **" in text) and defaults_to_none(
            text, unpacked(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            for keyword in call.keywords:
                name = read_name(keyword.value) if keyword.arg is None else None
                if name and name in self._nones(source, call) and not guarded(
                        source, call, name):
                    yield self.hit(source, keyword.value)

    @staticmethod
    def _nones(source: SourceFile, node: ast.AST) -> set[str]:
        function = source.enclosing(node)
        if function is None:
            return set()
        return in_reach(source, "none_defaults", function,
                        source.enclosing(function, (ast.ClassDef,)), unguarded_locals,
                        none_attributes)
