"""The rule base class: an id, a check over one parsed module, and the way to report a hit.

Job: one place that turns a node into a `Finding` with the rule table's message.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..catalogue import RULES
from ..finding import Edit, Finding
from ..source import SourceFile


class Rule:
    """Subclasses set `id` and implement `check`; one subclass per rule."""

    id = ""
    # True when the rule reads no more than the top-level definition it fires in (and the
    # module's head): the engine may then parse only the blocks `may_fire` accepts.
    local = False
    # True when a finding and all the rule reads lie within one method of a class (and the
    # class's own lines and `__init__`): the engine may then keep only the methods of a
    # class that the rule's `wanted` accepts, one at a time, not the whole class.
    in_methods = False
    # Substrings of which a text holds at least one whenever `may_fire` accepts it (empty:
    # no such promise); the engine finds all rules' anchors in one pass (`anchors.present`).
    anchors: tuple[str, ...] = ()
    # True when `may_fire` is the anchors' test alone (`AnchoredRule`): the engine, which has
    # found the anchors already, does not ask it again of the whole file
    anchored = False
    # What a local rule's `may_fire` asks of the whole file rather than of the code that
    # fires (`"mlx" in text`, an `import numpy`): each block is tested with it in front, as
    # the file (whose own `may_fire` passed) holds it; else a function that never names mlx
    # in a file that imports it would be skipped.
    file_words = ""

    @staticmethod
    def may_fire(text: str) -> bool:
        """False only when `text` cannot hold a finding (plain substring tests, no parse)."""
        return True

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool] | None:
        """Which top-level blocks of `text` the rule needs (a test on a block's text), or
        None for the whole module; a local rule needs the blocks `may_fire` accepts."""
        if not cls.local:
            return None
        return (lambda block: cls.may_fire(cls.file_words + block)) if cls.file_words \
            else cls.may_fire

    def check(self, source: SourceFile) -> Iterator[Finding]:
        raise NotImplementedError

    def hit(self, source: SourceFile, node: ast.AST, edit: Edit | None = None) -> Finding:
        return Finding(self.id, source.path, node.lineno, node.col_offset,
                       RULES[self.id].message, edit)


class AnchoredRule(Rule):
    """A rule that may fire wherever one of its anchors appears, and nowhere else."""

    anchored = True

    @classmethod
    def may_fire(cls, text: str) -> bool:  # type: ignore[override]
        return any(anchor in text for anchor in cls.anchors)


# What a text holds whenever `trains` (below) accepts it, and whenever `differentiates` does.
TRAINS = ("and_grad", "grad(", ".update(")
DIFFERENTIATES = ("grad(",)
UPDATE = re.compile(r"(?i:opt)\w*\.update\(")  # `optimizer.update(`, `self.opt.update(`


def optimizer_update_in(text: str) -> bool:
    """`UPDATE.search(text)`, by `str.find`: a regex with no literal head tries every
    position of the text (0.10 s of the three packages' prefilter, against 0.01 s)."""
    at = text.find(".update(")
    while at >= 0:
        start = at
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        if "opt" in text[start:at].lower():
            return True
        at = text.find(".update(", at + 8)
    return False


def loops(text: str) -> bool:
    """The text may hold a loop (a `for` or `while` statement or a comprehension)."""
    return "for " in text or "while " in text


_LAST: list = [None, False]  # the last text `trains` saw and its answer (rules ask in turn)


def trains(text: str) -> bool:
    """The text may hold a training loop: a loop, and a gradient taken (`value_and_grad`,
    `grad(`) or an optimizer's update. Several rules ask about the same text in turn, so
    the last answer is kept."""
    if _LAST[0] is not text:
        _LAST[:] = [text, _trains(text)]
    return _LAST[1]


def calls_and_trains(text: str) -> bool:
    """A text that defines functions and trains (`trains`): the rules that read the calls of
    a module's own functions (MLX207, MLX212) parse whole only such files, not a package's
    model definitions."""
    return "def " in text and trains(text)


def _trains(text: str) -> bool:
    return ("and_grad" in text or "grad(" in text or (
        ".update(" in text and optimizer_update_in(text))) and loops(text)


def differentiates(text: str) -> bool:
    """The text may take a gradient: `value_and_grad(` or `grad(` (`stop_gradient(` alone is
    not one: it holds no `grad(`). A plain substring test: a regex here cost ~0.1 s over the
    three packages."""
    return "grad(" in text
