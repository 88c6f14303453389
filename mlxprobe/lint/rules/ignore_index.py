"""MLX189: PyTorch's ignore index (-100) written into the targets of `nn.losses.cross_entropy`,
with nothing that masks it: MLX's cross_entropy has no `ignore_index`, so each -100 target
gathers a logit from outside its row and joins the mean, and the loss grows without bound.

Measured (mlx 0.32.4 CPU, failure corpus fresh154 `capital_quiz_ignore100`, atyronesmith/ft
9ae0190: padded label positions set to -100, as for PyTorch): a right-padded causal LM's
training loss climbed 3.24 -> 1.49e6 in 400 Adam steps with token accuracy at chance; with
`-100` replaced by a valid index and masked out of the mean, 3.29 -> 0.22, accuracy 0.915.

Job: in a file that writes an int literal -100 as a label (bound to a name, stored in an
array, a list's element, handed to a fill, a pad or a `where`; a slice bound or a range is
none), each `mlx.nn.losses.cross_entropy` call whose losses are averaged or summed
as they are (`reduction="mean"`/`"sum"`, or handed straight to a mean) in a function where no
comparison reads -100 or a name bound to it (`labels != -100`, `y == IGNORE`: the mask; a
mask computed elsewhere is applied to `reduction="none"` losses, which this leaves alone),
unless its targets are a slice of the array its logits were computed from (a next-token loss
on the model's own input ids, which hold no -100).
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..names import last_name
from ..source import SourceFile, descendants
from .base import Rule

CROSS_ENTROPY = "mlx.nn.losses.cross_entropy"
IGNORE = -100
FILLS = frozenset({"full", "full_like", "pad", "where", "fill", "fill_"})


def ignore_literal(node: ast.AST) -> bool:
    """The int literal -100."""
    return (type(node) is ast.UnaryOp and type(node.op) is ast.USub
            and type(node.operand) is ast.Constant and type(node.operand.value) is int
            and node.operand.value == -IGNORE)


def ignore_names(source: SourceFile) -> set[str]:
    """Names some assignment binds to -100 (`IGNORE = -100`)."""
    return {t.id for node in source.of_type(ast.Assign) if ignore_literal(node.value)
            for t in node.targets if type(t) is ast.Name}


def masked(source: SourceFile, scope: ast.AST, names: set[str]) -> bool:
    """A comparison in `scope` reads -100 or a name bound to it (the mask)."""
    return any(type(node) is ast.Compare and any(
        ignore_literal(part) or (type(part) is ast.Name and part.id in names)
        for part in (node.left, *node.comparators)) for node in descendants(scope))


def averaged(source: SourceFile, call: ast.Call) -> bool:
    """The call's losses are averaged or summed as they are: `reduction="mean"` or `"sum"`,
    or the call handed straight to a mean (`mx.mean(ce(...))`, `ce(...).mean()`); with
    `reduction="none"` the program weighs each token itself."""
    if any(k.arg == "reduction" and type(k.value) is ast.Constant and k.value.value in (
            "mean", "sum") for k in call.keywords):
        return True
    parent = source.parents.get(call)
    return (type(parent) is ast.Call and last_name(parent.func) in ("mean", "sum")) or (
        type(parent) is ast.Attribute and parent.attr in ("mean", "sum"))


def written_as_data(source: SourceFile) -> bool:
    """A -100 literal written as a label: bound to a name (`IGNORE = -100`), stored into an
    array (`labels[i, n:] = -100`), an element of a list (`[-100] * pad`), or handed to a
    fill (`np.full(shape, -100)`, `np.pad(..., constant_values=-100)`, `mx.where(keep, y,
    -100)`); a slice bound (`window[-100:]`) or a range (`uniform(-100, 100)`) is none."""
    for node in source.of_type(ast.UnaryOp):
        if not ignore_literal(node):
            continue
        parent = source.parents.get(node)
        if type(parent) is ast.keyword:
            parent = source.parents.get(parent)
        if type(parent) in (ast.Assign, ast.List, ast.Tuple) or (
                type(parent) is ast.Call and last_name(parent.func) in FILLS):
            return True
    return False


def shifted_input(source: SourceFile, call: ast.Call) -> bool:
    """The targets are a slice of the array the logits were computed from (`ce(m(x[:, :-1]),
    x[:, 1:])`, or `logits = m(x[:, :-1])` in the same function): a next-token loss on the
    model's own input ids, which are valid ids, never -100 (fresh277 `weir_sluice_drafter_ok`:
    a pretraining loss beside the adapter loss whose labels are padded with -100)."""
    target = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg == "targets"), None)
    if type(target) is not ast.Subscript or type(target.value) is not ast.Name or not call.args:
        return False
    logits, scope = call.args[0], source.enclosing(call) or source.tree
    made = [logits] + ([a.value for a in descendants(scope) if type(a) is ast.Assign
                        and any(type(t) is ast.Name and t.id == logits.id for t in a.targets)]
                       if type(logits) is ast.Name else [])
    return any(type(n) is ast.Subscript and type(n.value) is ast.Name
               and n.value.id == target.value.id for m in made for n in descendants(m))


class IgnoreIndexUnmasked(Rule):
    """MLX189: labels padded with -100 handed to `nn.losses.cross_entropy` unmasked."""

    id = "MLX189"
    anchors = ("-100",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "-100" in text and "cross_entropy(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not written_as_data(source):
            return
        names = ignore_names(source)
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) == CROSS_ENTROPY and averaged(source, call) \
                    and not masked(source, source.enclosing(call) or source.tree, names) \
                    and not shifted_input(source, call):
                yield self.hit(source, call)
