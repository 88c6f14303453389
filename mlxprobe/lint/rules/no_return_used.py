"""MLX240: the result of a call to the module's own function that returns nothing is used:
`train, valid, test = (load_and_check(n) for n in names)` where `load_and_check` binds its
dataset to a local and never returns it. Every path of such a function returns `None`, so
the names are `None` and the first `len(train)` or `for batch in train` raises
`TypeError: object of type 'NoneType' has no len()` before any training step (pylint's
assignment-from-no-return, stated here over the training program's own helpers).

Measured (mlx 0.32.4 CPU, failure corpus fresh40 `jsonl_split_loader_none`, mlx-examples
lora's `load`): the loader's inner `load_and_check` built `train = Dataset(path)` inside a
`try` with no `return`, and the run died with that TypeError right after writing its data;
with `return Dataset(path)` it trained.

Job: a function the module defines once, plainly (no decorator, no `yield`, no `return`
with a value anywhere in its own body, a body that is more than a docstring, `pass`, `...`
or a `raise`), called by its plain name where the call's value is bound: the value of an
assignment to names other than `_`, directly or as the element of a comprehension or
generator so bound.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_nodes, is_inside
from ..patterns import at_word
from ..source import FUNCTIONS, SourceFile
from .base import Rule

COMPREHENSIONS = (ast.GeneratorExp, ast.ListComp, ast.SetComp)
# The text test: a name the module defines whose call is the value of an assignment (or the
# element of a comprehension that is), `x = load(`, `a, b = (load(n) for`. BOUND_CALL's `=`
# comes first and the character before it is checked behind it, so `re` scans for the `=`
# (`[^=!<>]=` first: 0.56 s over the three packages' 1,238 files that name mlx; this: 0.08 s).
DEFINED = at_word(r"\bdef (\w+)")
VALUED = re.compile(r"\breturn[ \t]*[^\s#]|\byield\b")
BOUND_CALL = re.compile(r"=(?<=[^=!<>]=)\s*[(\[{]?\s*(\w+)\(")


class NoReturnUsed(Rule):
    """MLX240: `a, b = (load(n) for n in names)` with `load` returning nothing."""

    id = "MLX240"
    anchors = ("def ",)

    @staticmethod
    def may_fire(text: str) -> bool:
        if "def " not in text:
            return False
        named = set(DEFINED.findall(text)) & set(BOUND_CALL.findall(text))
        return any(silent_text(text, name) for name in named)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if not isinstance(call.func, ast.Name) or not bound_value(source, call):
                continue
            function = source.local_function(call.func.id)
            if function is not None and returns_nothing(source, function) \
                    and visible(source, function, call):
                yield self.hit(source, call)


def silent_text(text: str, name: str) -> bool:
    """Some `def name(` whose lines (to the next line indented no deeper) hold no `return`
    with a value and no `yield`."""
    at = text.find(f"def {name}(")
    while at >= 0:
        indent = at - (text.rfind("\n", 0, at) + 1)
        if not VALUED.search(text, at, body_end(text, at, indent)):
            return True
        at = text.find(f"def {name}(", at + 1)
    return False


def body_end(text: str, at: int, indent: int) -> int:
    """Where the block starting on the line of `at` ends: the next non-blank line indented
    `indent` or less (the end of the text when there is none)."""
    end = text.find("\n", at)
    while end >= 0:
        nxt = text.find("\n", end + 1)
        line = text[end + 1:nxt if nxt >= 0 else len(text)]
        if line.strip() and len(line) - len(line.lstrip()) <= indent \
                and not line.lstrip().startswith((")", "]", "}")):  # a signature's close
            return end
        end = nxt
    return len(text)


def visible(source: SourceFile, function: ast.AST, call: ast.Call) -> bool:
    """The name called is that function: defined at module level or in a function that
    holds the call (no method: `self.load` is no `load`), and not a parameter of the
    function the call is in, nor a name the module imports (mlx-vlm's `load` beside a
    method called load)."""
    holder = source.parents.get(function)
    if isinstance(holder, ast.ClassDef):
        return False
    if not isinstance(holder, ast.Module) and not is_inside(source, call, holder):
        return False
    caller = source.enclosing(call)
    params = {a.arg for a in (*caller.args.posonlyargs, *caller.args.args,
                              *caller.args.kwonlyargs)} if caller is not None else set()
    imported = {a.asname or a.name.split(".")[0] for node in source.of_type(
        ast.Import, ast.ImportFrom) for a in node.names}
    return call.func.id not in params | imported


def bound_value(source: SourceFile, call: ast.Call) -> bool:
    """The call is the value of an assignment to names (not `_`), or the element of a
    comprehension that is."""
    parent = source.parents.get(call)
    if isinstance(parent, COMPREHENSIONS) and parent.elt is call:
        call, parent = parent, source.parents.get(parent)
    if not isinstance(parent, ast.Assign) or parent.value is not call:
        return False
    names = [n for t in parent.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return bool(names) and all(n.id != "_" for n in names)


def returns_nothing(source: SourceFile, function: ast.AST) -> bool:
    """A plain function whose own body never returns a value nor yields, and does more than
    stand in (a docstring, `pass`, `...`, a `raise`)."""
    if not isinstance(function, FUNCTIONS) or function.decorator_list:
        return False
    body = [s for s in function.body if not (isinstance(s, ast.Expr) and isinstance(
        s.value, ast.Constant))]
    if not body or all(isinstance(s, (ast.Pass, ast.Raise)) for s in body):
        return False
    for node in body_nodes(source, function):
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)) or (
                isinstance(node, ast.Return) and node.value is not None):
            return False
    return True
