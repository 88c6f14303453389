"""MLX228: a method reads `self.x` where nothing ever sets `x`: a class with no base class
(nothing to inherit from), whose methods, class body and module never assign an attribute of
that name. The read raises `AttributeError` the first time the method runs, often deep in a
training step after the data is loaded (a distribution class ported from another library
that kept one of its property names: `self.mean` where the class stores `self.loc`).

Measured (mlx 0.32.4 CPU, failure corpus fresh190 `sawmill_kerf_normal_dist`, from
mlx-distributions): a hand-rolled `Normal` that stored `self.loc` and `self.scale` read
`self.mean` in `log_prob`, and the first training step raised `AttributeError: 'Normal'
object has no attribute 'mean'`.

Job: in a class statement with no bases (or only `object`), no decorator, and no
`__getattr__`/`__getattribute__`/`__slots__`/`__dict__`/`setattr`, that is no mixin (named
`...Mixin`, or a base of another class of the module: its attributes come from the classes
it joins, as mlx-vlm's `CheckpointMixin` reads `self.config`), each read of `self.x` (not a
dunder such as `self.__class__`) in
one of its methods where `x` is not a method, a class-level name, an attribute some method
assigns through `self` (plainly, in a tuple, annotated or augmented), nor an attribute
assigned anywhere in the module on any object (`obj.x = ...`: set from outside).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import self_attr
from ..patterns import at_word
from ..source import FUNCTIONS, SourceFile
from .base import Rule

BASELESS = re.compile(r"^[ \t]*class \w+(?:\(\s*(?:object)?\s*\))?:", re.MULTILINE)
# Text tests that keep `may_fire` a superset of the check: an attribute read through `self`,
# one stored through any object (`x.name = `, `x.name += `, `x.name: T = `), a method.
READ = at_word(r"\bself\.(\w+)")
STORED = re.compile(r"\.(\w+)\s*(?::[^=\n]*)?(?:[-+*/@%&|^]|//|\*\*|>>|<<)?=(?!=)")
DEFINED = at_word(r"\bdef (\w+)")
DYNAMIC = frozenset({"__getattr__", "__getattribute__", "__slots__", "__dict__", "setattr",
                     "__setattr__"})


class UnsetAttribute(Rule):
    """MLX228: `self.mean` read in a plain class that only ever sets `self.loc`."""

    id = "MLX228"
    anchors = ("self.",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "self." in text and plain_class_in(text) and bool(
            set(READ.findall(text)) - set(STORED.findall(text)) - set(DEFINED.findall(text)))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls, known in judged_classes(source, plain):
            for node in ast.walk(cls):
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) \
                        and (name := self_attr(node)) and name not in known \
                        and not name.startswith("__"):
                    yield self.hit(source, node)


def judged_classes(source: SourceFile, eligible: Callable[[SourceFile, ast.ClassDef], bool]
                   ) -> Iterator[tuple[ast.ClassDef, set[str]]]:
    """Each class `eligible` accepts that is no mixin (named `...Mixin`, or a base of another
    class of the module: its attributes come from the classes it joins), with the names known
    to be set on it: its methods, class-level names and every attribute the module stores on
    any object."""
    classes = [c for c in source.of_type(ast.ClassDef) if eligible(source, c)]
    if not classes:
        return
    outside, bases = assigned_anywhere(source), based_on(source)
    for cls in classes:
        if cls.name not in bases and "Mixin" not in cls.name:
            yield cls, class_names(cls) | outside


def plain_class_in(text: str) -> bool:
    """A class line with no base but `object` whose line before is no decorator (a
    `@dataclass` config class is most of those in model code)."""
    for match in BASELESS.finditer(text):
        start = text.rfind("\n", 0, max(match.start() - 1, 0)) + 1
        if not text[start:match.start()].lstrip().startswith("@"):
            return True
    return False


def based_on(source: SourceFile) -> set[str]:
    """The names the module's classes derive from."""
    return {b.id for c in source.of_type(ast.ClassDef) for b in c.bases
            if isinstance(b, ast.Name)}


def plain(source: SourceFile, cls: ast.ClassDef) -> bool:
    """No base but `object`, no decorator, no dynamic attribute machinery in its text."""
    if cls.keywords or cls.decorator_list or not all(
            isinstance(b, ast.Name) and b.id == "object" for b in cls.bases):
        return False
    text = "\n".join(source.lines[cls.lineno - 1:cls.end_lineno])
    return not any(word in text for word in DYNAMIC)


def class_names(cls: ast.ClassDef) -> set[str]:
    """Methods, class-level names and every `self.x` a method stores."""
    names = {n.name for n in cls.body if isinstance(n, (*FUNCTIONS, ast.ClassDef))}
    for statement in cls.body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [
                statement.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def assigned_anywhere(source: SourceFile) -> set[str]:
    """Every attribute name the module stores on any object (`x.name = ...`, `self.name
    += ...`, in tuples and `for` targets too)."""
    return source.cached("assigned_anywhere", source.tree, lambda: {
        n.attr for n in source.of_type(ast.Attribute) if isinstance(n.ctx, (ast.Store, ast.Del))})
