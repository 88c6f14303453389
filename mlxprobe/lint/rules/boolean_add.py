"""MLX193: a boolean mask added to attention scores (`scores = scores + mask`, mask made by a
comparison such as `idx[:, None] >= idx[None, :]` and handed down the model's layers): in
arithmetic True and False are 1 and 0, so nothing is masked. Every position attends to the
ones it must not see (a causal model reads the token it predicts), with no error; an additive
mask holds 0 and a large negative number, a boolean one goes through `mx.where(mask, scores,
mx.finfo(scores.dtype).min)`.

Measured (mlx 0.32.4 CPU, failure corpus fresh170 `softcap_markov_lm`, mlx-lm PR 27 for
issue 18: Gemma-2's soft-capped attention added mlx-lm's boolean causal mask): on a Markov
chain whose entropy rate, 1.445 nats/token, is the lowest loss a causal model can reach, the
held-out loss fell below it (1.317) while scoring the same sequences from their prefixes gave
1.910; with `mx.where` it settled at 1.445.

Job: an addition (`a + m`, `m + a`, `a += m`) in a function where `m` is a parameter named as
a mask (`mask`, `attn_mask`, `causal_mask`: following every added parameter up its callers cost
0.4 s over the packages) that the function never rebinds and that every known caller hands a
boolean: a comparison, a logical operation, a cast to `mx.bool_`, or a parameter of its own
function handed a boolean the same way, up to DEPTH bindings and calls up
(`callers.arguments_for`: a layer's callers in the module's other layers, a function's calls
by name).

The rule reads the whole module (a mask's callers may be anywhere in it), so its text test
decides whether a file is parsed at all: "mask" and "+" anywhere let 756 of the packages'
1,875 files through (624 of them parsed whole for this rule alone, the fifth of lint's time
stop 63 added); an identifier holding "mask" (any case) beside a `+` or after a `+=`, as a
plain name (not `mask[...]`, `mask.x`, `mask(...)`), lets 46 through, by `str.find` in
~0.06 s over the packages (the same regular expression took 0.49 s).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..callers import arguments_for
from ..finding import Finding
from ..flow import local_values
from ..source import FUNCTIONS, SourceFile
from .base import Rule

SPACE = " \t\r\n\\"  # what may stand between an operand and its `+` (a continued line too)
WINDOW = 40  # characters looked at on each side of the word
DEPTH = 8  # bindings and calls up a mask is followed (model -> block -> attention is two)
BOOL_DTYPES = frozenset({"mlx.core.bool_", "numpy.bool_"})
LOGICAL = frozenset(f"mlx.core.{op}" for op in (
    "logical_not", "logical_and", "logical_or", "greater", "less", "equal", "not_equal",
    "greater_equal", "less_equal", "isnan", "isinf"))


def boolean(source: SourceFile, node: ast.AST, depth: int = DEPTH) -> bool:
    """A boolean array as written: see the module's Job."""
    if isinstance(node, ast.Compare):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return boolean(source, node.operand, depth)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
        return boolean(source, node.left, depth) and boolean(source, node.right, depth)
    if isinstance(node, ast.Call):
        return _boolean_call(source, node)
    return isinstance(node, ast.Name) and _boolean_name(source, node, depth)


def _boolean_call(source: SourceFile, call: ast.Call) -> bool:
    """`mx.logical_not(...)`, `x.astype(mx.bool_)`, `mx.ones(..., dtype=mx.bool_)`."""
    if source.imports.resolve(call.func) in LOGICAL:
        return True
    cast = isinstance(call.func, ast.Attribute) and call.func.attr == "astype" and call.args
    dtypes = [call.args[0]] if cast else [k.value for k in call.keywords if k.arg == "dtype"]
    return any(source.imports.resolve(d) in BOOL_DTYPES for d in dtypes)


def _boolean_name(source: SourceFile, name: ast.Name, depth: int) -> bool:
    """A local name every binding of which is boolean, or a parameter (never rebound) that
    every known caller hands a boolean."""
    if depth == 0:
        return False
    values = local_values(source, name, name)
    if values:  # each step down a binding counts (`mask = mask & keep` binds it to itself)
        return all(boolean(source, v, depth - 1) for v in values)
    function = source.enclosing(name)
    if function is None or not isinstance(function, FUNCTIONS):
        return False
    passed = arguments_for(source, function, name.id)
    return bool(passed) and all(boolean(source, argument, depth - 1) for argument, _ in passed)


def _parameter(function: ast.AST | None, node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and function is not None and isinstance(
        function, FUNCTIONS) and node.id in {a.arg for a in function.args.args}


class BooleanMaskAdded(Rule):
    """MLX193: `scores + mask` where every caller hands `mask` a comparison."""

    id = "MLX193"
    anchors = ("+",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mlx" in text and "+" in text and mask_added(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in (*source.of_type(ast.BinOp), *source.of_type(ast.AugAssign)):
            if isinstance(node.op, ast.Add) and self._adds_boolean(source, node):
                yield self.hit(source, node)

    @staticmethod
    def _adds_boolean(source: SourceFile, node: ast.AST) -> bool:
        function = source.enclosing(node)
        operands = [node.target, node.value] if isinstance(node, ast.AugAssign) else \
            [node.left, node.right]
        masks = [o for o in operands if _parameter(function, o) and "mask" in o.id.lower()
                 and boolean(source, o)]
        return len(masks) == 1 and not _dtype_tested(source, node, masks[0]) and not any(
            boolean(source, o) for o in operands if o is not masks[0])


def mask_added(text: str) -> bool:
    """The text adds a plain name holding "mask" (any case): `+ mask`, `+= attn_mask`,
    `(mask) +`; a necessary condition for a finding, found without parsing."""
    low = text.lower()
    at = low.find("mask")
    while at >= 0:
        start, end = _word_start(low, at), _word_end(low, at + 4)
        if _added_at(low, start, end):
            return True
        at = low.find("mask", end)
    return False


def _added_at(low: str, start: int, end: int) -> bool:
    """The word at low[start:end] is the left operand of a `+`, or the right one of `+`/`+=`
    and not subscripted, called or read for an attribute."""
    after = low[end:end + WINDOW].lstrip(SPACE)
    if after.lstrip(")" + SPACE).startswith("+"):
        return True
    before = low[max(0, start - WINDOW):start].rstrip(SPACE + "(")
    return before.endswith(("+", "+=")) and not after.startswith(("[", ".", "("))


def _word_start(low: str, at: int) -> int:
    while at > 0 and (low[at - 1].isalnum() or low[at - 1] == "_"):
        at -= 1
    return at


def _word_end(low: str, at: int) -> int:
    while at < len(low) and (low[at].isalnum() or low[at] == "_"):
        at += 1
    return at


def _dtype_tested(source: SourceFile, node: ast.AST, mask: ast.Name) -> bool:
    """The addition sits under an `if` (or a conditional expression) that reads the mask's
    dtype (`if mask.dtype == mx.bool_: ... else: scores + mask`): the program tells the two
    kinds of mask apart (the upstream fix)."""
    parent = source.parents.get(node)
    while parent is not None and not isinstance(parent, FUNCTIONS):
        if isinstance(parent, (ast.If, ast.IfExp)) and any(
                isinstance(n, ast.Attribute) and n.attr == "dtype" and isinstance(
                    n.value, ast.Name) and n.value.id == mask.id for n in ast.walk(parent.test)):
            return True
        parent = source.parents.get(parent)
    return False
