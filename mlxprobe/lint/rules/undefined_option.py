"""MLX180: an attribute read from the parsed command line that no option defines: `args =
parser.parse_args()` and then `args.adapter_file` where no `add_argument` makes
`adapter_file`. `argparse.Namespace` has only the options' destinations, so the read raises
AttributeError when its line first runs, which in a training script is often after the
whole run (a final message, a last save), and the process exits 1 after the work was done.

Measured (mlx 0.32.4 CPU, failure corpus fresh127 `dunefield_lora_flow`, mlx-examples PR 1143:
flux's dreambooth.py printed `args.adapter_file`, an option it never defined): 600
iterations trained (loss 1.624 -> 1.015) and saved, then `AttributeError: 'Namespace'
object has no attribute 'adapter_file'`, exit 1; the fixed line exits 0.

Job: in a function (or the module's top level) that binds a name once, to a
`.parse_args()` call with no `namespace=`, each `name.attr` read in that scope whose attr is
no option's destination (`dest=`, else the first long flag, else the first flag, `-` as
`_`), no `set_defaults` keyword and no `add_subparsers` dest of the file. The module stands
down where an option's name is not a literal, where a parser is handed to a function the file
does not define (it may add options), where parents or `set_defaults(**...)` bring options
in, and where attributes are set on the namespace (`args.x = ...`, `setattr`, `vars(args)`
or `__dict__` updated).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import arguments, assignments, body_nodes
from ..patterns import at_word
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .settings import option_dest

DEFINES = ("add_argument", "set_defaults", "add_subparsers")
PARSED = re.compile(r"(\w+)\s*(?::[^=\n]*)?=\s*[\w.]*\.parse_args\(")


def unmatched_read(text: str) -> bool:
    """Text test: an `args.x` read, for a name bound to `.parse_args(`, whose `x` the text
    names nowhere as a quoted flag or dest (`"--x-y"`, `"x"`) or a keyword (`x=`): only such
    a read can be no option's destination. Where a `parse_args(` call is not bound to a plain
    name this way, the rule runs. Over the three packages, 64 files were parsed whole for
    this rule and none held a finding (0.62 MB parsed for nothing)."""
    at = [line for line in text.split("\n") if ".parse_args(" in line]
    names = [name for line in at for name in PARSED.findall(line)]
    if len(names) < text.count(".parse_args("):
        return True
    attrs = {attr for name in set(names) for attr in at_word(rf"\b{name}\.(\w+)").findall(text)}
    return any(not attr.startswith("__") and not named(attr, text) for attr in attrs)


def named(attr: str, text: str) -> bool:
    """`attr` is quoted as a flag or dest (`"--max-grad-norm"`, `'lr'`) or is a keyword."""
    dashed = attr.replace("_", "-")
    return any(f"{q}{dash}{word}{q}" in text for q in "\"'" for dash in ("", "-", "--")
               for word in {attr, dashed}) or at_word(rf"\b{attr}=(?!=)").search(text) is not None


def destinations(source: SourceFile) -> set[str] | None:
    """Every destination the file's parsers define; None where they cannot all be read."""
    found: set[str] = set()
    for call in source.of_type(ast.Call):
        method = call.func.attr if type(call.func) is ast.Attribute else None
        if method == "add_argument":
            if any(type(a) is not ast.Constant for a in call.args) or option_dest(call) is None:
                return None
            found.add(option_dest(call) or "")
        elif method in DEFINES:
            if any(k.arg is None for k in call.keywords):
                return None
            found |= {str(k.value.value) for k in call.keywords if k.arg == "dest"
                      and type(k.value) is ast.Constant} if method == "add_subparsers" \
                else {k.arg for k in call.keywords if k.arg}
        elif any(k.arg == "parents" for k in call.keywords) and "ArgumentParser" in (
                getattr(call.func, "attr", None), getattr(call.func, "id", None)):
            return None
    return found


def parsers_handed_out(source: SourceFile) -> bool:
    """A parser is passed to a function the file does not define (it may add options)."""
    parsers = {t.id for t, v in assignments(source.of_type(ast.Assign)) if type(t) is ast.Name
               and type(v) is ast.Call and (getattr(v.func, "attr", None) or getattr(
                   v.func, "id", None)) == "ArgumentParser"}
    return any(type(a) is ast.Name and a.id in parsers and not (
        type(c.func) is ast.Name and source.local_function(c.func.id) is not None)
        for c in source.of_type(ast.Call) for a in c.args)


def parsed_names(source: SourceFile, scope: ast.AST) -> set[str]:
    """Names `scope` binds once, to a `.parse_args()` call with no `namespace=`."""
    bound: dict[str, list[ast.AST]] = {}
    for target, value in assignments(body_nodes(source, scope)):
        if type(target) is ast.Name:
            bound.setdefault(target.id, []).append(value)
    return {name for name, values in bound.items() if len(values) == 1
            and type(values[0]) is ast.Call and type(values[0].func) is ast.Attribute
            and values[0].func.attr == "parse_args"
            and not any(k.arg == "namespace" for k in values[0].keywords)}


def written(source: SourceFile, names: set[str]) -> bool:
    """Attributes are set on one of `names` anywhere: `args.x = ...`, `setattr(args, ...)`,
    `vars(args).update(...)`, `args.__dict__[k] = v` (a read of `vars(args)` sets nothing)."""
    return any(_named(node.value, names) and type(node.ctx) is not ast.Load
               for node in source.of_type(ast.Attribute)) or any(
        _namespace_dict(node.value, names) for node in source.of_type(ast.Subscript)
        if type(node.ctx) is ast.Store) or any(
        _sets_attributes(call, names) for call in source.of_type(ast.Call))


def _sets_attributes(call: ast.Call, names: set[str]) -> bool:
    """`setattr(args, ...)`, `vars(args).update(...)`, `args.__dict__.setdefault(...)`."""
    func = call.func
    if type(func) is ast.Name:
        return func.id == "setattr" and bool(call.args) and _named(call.args[0], names)
    return type(func) is ast.Attribute and func.attr in ("update", "setdefault") and \
        _namespace_dict(func.value, names)


def _named(node: ast.AST | None, names: set[str]) -> bool:
    return type(node) is ast.Name and node.id in names


def _namespace_dict(node: ast.AST | None, names: set[str]) -> bool:
    """`vars(args)` or `args.__dict__`."""
    return (type(node) is ast.Call and type(node.func) is ast.Name and node.func.id == "vars"
            and bool(node.args) and _named(node.args[0], names)) or (
        type(node) is ast.Attribute and node.attr == "__dict__" and _named(node.value, names))


class UndefinedOption(Rule):
    """MLX180: `args = parser.parse_args()`, then `args.adapter_file`, no such option."""

    id = "MLX180"
    anchors = ("parse_args(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "parse_args(" in text and "add_argument(" in text and unmatched_read(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        known = destinations(source)
        if known is None or parsers_handed_out(source):
            return
        for scope in [source.tree, *source.of_type(*FUNCTIONS)]:
            names = parsed_names(source, scope)
            if names and not written(source, names):
                yield from self._unknown(source, scope, names, known)

    def _unknown(self, source: SourceFile, scope: ast.AST, names: set[str],
                 known: set[str]) -> Iterator[Finding]:
        seen: set[str] = set()
        for node in reads_in(source, scope, names):
            if type(node) is ast.Attribute and type(node.value) is ast.Name and \
                    node.value.id in names and node.attr not in known and \
                    not node.attr.startswith("__") and node.attr not in seen:
                seen.add(node.attr)
                yield self.hit(source, node)


def reads_in(source: SourceFile, scope: ast.AST, names: set[str]) -> list[ast.AST]:
    """The nodes of `scope`; for the module, also those of its functions that neither bind
    nor take one of `names` (they read the global)."""
    nodes = list(body_nodes(source, scope))
    if scope is source.tree:
        for function in source.of_type(*FUNCTIONS):
            own = arguments(function) | {t.id for t, _ in assignments(
                body_nodes(source, function)) if type(t) is ast.Name}
            if not own & names:
                nodes += body_nodes(source, function)
    return nodes
