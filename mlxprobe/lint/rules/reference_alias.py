"""MLX198: a reference, teacher or target model bound to the trained model itself (`reference_
model = model`, `target_net = q_net`) and handed beside it to one call: one object under two
names, so the "reference" moves with every update. A DPO loss against it is the policy
against itself (its log-ratio differences are 0 at every step and the loss sits at ln 2); a
DQN target is the online network; a distillation teacher is the student.

Measured (mlx 0.32.4 CPU, failure corpus fresh185 `dpo_selfref_tinylm`, mlx-examples
582f979: lora.py set `reference_model = model` when no reference was given): the DPO loss
stayed at 0.6931 (ln 2) for 300 steps, the chosen and rejected rewards at 0.000; with the
reference loaded separately and frozen it fell to 0.0622.

Job: in a function (or the module), a plain `T = V` where T's name says reference, teacher,
target, EMA or old (a word of it: ref, reference, teacher, target, ema, old, frozen,
baseline) and V's does not, V a model (somewhere the file reads its `parameters()`,
`trainable_parameters()`, `freeze()`, `train()`, `eval()`, `update()`, `load_weights()`: an
autoencoder's `target = x` is data, not a model), T bound nowhere else in that scope, and a
later call handed both T and V. A copy (`copy.deepcopy(model)`, a second load) is not a
plain name and never fires.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, body_nodes
from ..source import FUNCTIONS, SourceFile
from .base import Rule

REFERENCE = frozenset({"ref", "reference", "teacher", "target", "ema", "old", "frozen",
                       "baseline"})
# a plain alias on its own line: `reference_model = model` (the text test reads only the lines
# holding one of REFERENCE's words, found by `str.find`: one regex over every line of the
# packages cost 0.9 s)
ALIAS_LINE = re.compile(r"[ \t]*(\w+)[ \t]*=[ \t]*[A-Za-z_][\w.]*[ \t]*$")


MODEL_METHODS = frozenset({"parameters", "trainable_parameters", "freeze", "unfreeze", "train",
                           "eval", "update", "load_weights", "save_weights"})


def models(source: SourceFile) -> set[str]:
    """Names the file uses as models: `name.parameters()`, `name.freeze()`, ..."""
    return {n.func.value.id for n in source.of_type(ast.Call) if isinstance(
        n.func, ast.Attribute) and n.func.attr in MODEL_METHODS and isinstance(
        n.func.value, ast.Name)}


def alias_line(text: str) -> bool:
    """A line `T = V` whose T says reference (see ALIAS_LINE)."""
    low = text.lower()
    for word in REFERENCE:
        at = low.find(word)
        while at >= 0:
            if at == 0 or not low[at - 1].isalnum():
                start = low.rfind("\n", 0, at) + 1
                end = low.find("\n", at)
                found = ALIAS_LINE.match(text, start, len(low) if end < 0 else end)
                if found is not None and says_reference(found.group(1)):
                    return True
            at = low.find(word, at + len(word))
    return False


def says_reference(name: str) -> bool:
    return bool(REFERENCE.intersection(w for w in name.lower().split("_") if w))


def handed_both(nodes: list[ast.AST], after: int, first: str, second: str) -> bool:
    """A call after line `after` handed both names (positionally or by keyword)."""
    for node in nodes:
        if isinstance(node, ast.Call) and node.lineno > after:
            given = {a.id for a in [*node.args, *(k.value for k in node.keywords)]
                     if isinstance(a, ast.Name)}
            if {first, second} <= given:
                return True
    return False


class ReferenceIsTheModel(Rule):
    """MLX198: `reference_model = model`, then `train_dpo(model, reference_model, ...)`."""

    id = "MLX198"
    anchors = ("ref", "teacher", "target", "ema", "old", "frozen", "baseline")

    @staticmethod
    def may_fire(text: str) -> bool:
        return alias_line(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        known = models(source)
        for scope in (source.tree, *source.of_type(*FUNCTIONS)):
            pairs = body_assignments(source, scope)
            bound = [t.id for t, _ in pairs if isinstance(t, ast.Name)]
            for target, value in pairs:
                if self._alias(target, value) and value.id in known and bound.count(
                        target.id) == 1 and handed_both(body_nodes(source, scope),
                                                        value.lineno, target.id, value.id):
                    yield self.hit(source, value)

    @staticmethod
    def _alias(target: ast.AST, value: ast.AST) -> bool:
        return isinstance(target, ast.Name) and isinstance(value, ast.Name) and says_reference(
            target.id) and not says_reference(value.id)
