"""MLX190: an argument named for one parameter of an MLX function, given by position in the
slot of another: `mx.linalg.norm(x, axis)` puts `axis` in `ord` (norm's parameters are `a,
ord, axis, keepdims`), so the call computes a different quantity with no error: a matrix norm
of the whole batch where per-row norms were meant.

Measured (mlx 0.32.4 CPU, failure corpus fresh164 `marginalia_embed_distill`, node-mlx
057cfd1 fixed the same two calls in its cosine-similarity loss): a distillation whose cosine
loss divided every row's dot product by one batch-wide norm printed a loss of 0.9990 ->
0.9982 over 15 epochs, the held-out cosine to the teacher ending at 0.857; with `axis=axis`
the loss fell 0.3204 -> 0.0366 and the cosine reached 0.954.

Job: calls of the functions in `mlx_positions` (mlx.core and its submodules) and
`loss_signatures` (mlx.nn.losses) whose positional argument is a bare name (or the attribute
of one: `self.axis`) that is exactly the name of another of the function's parameters, one
not annotated as an array (`take_along_axis(indices, order)` sorts an array named `indices`:
mlx-vlm's llada2_moe), at least MIN_LENGTH letters long. It finds one in mlx-vlm 0.7.10:
Florence-2's drop path draws `mx.random.uniform(shape)`, whose first parameter is `low`.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from .. import anchors
from ..finding import Finding
from ..loss_signatures import PARAMETERS
from ..markers import is_word
from ..mlx_positions import LOSS_OPERANDS, OPERANDS, POSITIONS
from ..names import last_name
from ..source import SourceFile
from .base import Rule
from .positional_flag import PREFIX as LOSSES

MIN_LENGTH = 3
# what `misnamed` can find, as text: one of the non-operand parameter names given by position
NAMES = sorted({p for table, operands in ((POSITIONS, OPERANDS), (PARAMETERS, LOSS_OPERANDS))
                for f, ps in table.items() for p in ps
                if len(p) >= MIN_LENGTH and p not in operands.get(f, frozenset())})
# each name with the character after it that may end it as an argument: a comma, a closing
# bracket, or whitespace (then read on to the comma or bracket)
NAME_ENDS = frozenset(n + end for n in NAMES for end in ",) \t\n\r\f\v")


# short name -> the positional parameter lists of the MLX functions of that name
BY_SHORT: dict[str, list[tuple[str, ...]]] = {}
for _name, _params in (*POSITIONS.items(), *((LOSSES + k, v) for k, v in PARAMETERS.items())):
    BY_SHORT.setdefault(_name.rsplit(".", 1)[-1], []).append(_params)


def positional_names(text: str) -> Iterator[tuple[str, int, bool]]:
    """(name, where the bracket or comma before it stands, whether it is a bracket) for each
    of NAMES given alone as an argument: `[(,]\\s*(self.)?NAME\\s*[,)]`."""
    for word, start, end in anchors.matches(text, NAME_ENDS):
        name, after = word[:-1], skip_space(text, end - 1, 1)
        if after >= len(text) or text[after] not in ",)" or (start and is_word(text[start - 1])):
            continue
        before = skip_space(text, start - 5 if text.startswith("self.", start - 5) else start, -1)
        if before >= 0 and text[before] in "(,":
            yield name, before, text[before] == "("


def skip_space(text: str, at: int, step: int) -> int:
    """The first position from `at` (forward, or back from `at - 1`) that is no whitespace."""
    if step < 0:
        at -= 1
    while 0 <= at < len(text) and text[at].isspace():
        at += step
    return at


def misplaced_text(text: str, name: str, where: int, opens: bool) -> bool:
    """The text test, before any parse: `name`, after the bracket or comma at `where`, stands
    at a position of a call of a function named like an MLX one whose parameter there is
    another (the callee and the position read back along the line to the call's bracket)."""
    line_start = text.rfind("\n", 0, where) + 1
    at, commas = bracket_before(text, where if opens else where - 1, line_start)
    callee = re.search(r"(\w+)\s*$", text[line_start:at]) if at >= line_start else None
    index = commas + (0 if opens else 1)
    return callee is not None and any(
        index < len(params) and params[index] != name and name in params
        for params in BY_SHORT.get(callee.group(1), ()))


def bracket_before(text: str, at: int, line_start: int) -> tuple[int, int]:
    """Where the call bracket that `at` stands in opens (reading back to `line_start`; -1
    when not on the line), and how many commas of that call lie between."""
    depth, commas = 0, 0
    while at >= line_start:
        char = text[at]
        if char == "(" and depth == 0:
            return at, commas
        if char in ")]}":
            depth += 1
        elif char in "([{":
            if depth == 0:
                return -1, commas
            depth -= 1
        elif char == "," and depth == 0:
            commas += 1
        at -= 1
    return -1, commas


def parameters(name: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The positional parameters of an MLX function by its resolved name, in order, and its
    array operands."""
    if name.startswith(LOSSES):
        short = name[len(LOSSES):]
        return PARAMETERS.get(short, ()), LOSS_OPERANDS.get(short, frozenset())
    return POSITIONS.get(name, ()), OPERANDS.get(name, frozenset())


def misnamed(call: ast.Call, params: tuple[str, ...], operands: frozenset[str]) -> ast.AST | None:
    """The first positional argument named for another of `params` than its slot's, one that
    is no array operand (an array named `indices` may be any operand)."""
    for index, arg in enumerate(call.args[:len(params)]):
        if isinstance(arg, ast.Starred):
            return None
        named = arg.id if isinstance(arg, ast.Name) else (
            arg.attr if isinstance(arg, ast.Attribute) else None)
        if named and len(named) >= MIN_LENGTH and named != params[index] and (
                named in params and named not in operands):
            return arg
    return None


class ArgumentInAnotherSlot(Rule):
    """MLX190: `mx.linalg.norm(x, axis)`: `axis` given by position lands in `ord`."""

    id = "MLX190"
    anchors = ("mx.", "mlx", "losses")
    local = True  # a call and its imports: the blocks holding a positional parameter name

    @staticmethod
    def may_fire(text: str) -> bool:
        """One of NAMES standing alone between a call's bracket or comma and the next comma
        or closing bracket, `(axis)`, `, self.axis,`, at a position of a call named like an
        MLX function whose parameter there is another (found with the anchors' automaton: a
        pattern of 107 alternatives tried at every bracket and comma cost lint 0.3 s)."""
        return any(misplaced_text(text, name, at, opens)
                   for name, at, opens in positional_names(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if last_name(call.func) not in BY_SHORT:
                continue
            params, operands = parameters(source.imports.resolve(call.func) or "")
            if call.args and params and misnamed(call, params, operands) is not None:
                yield self.hit(source, call)
