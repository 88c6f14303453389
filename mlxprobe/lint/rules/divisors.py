"""Rules about a division whose divisor the program itself can make zero: MLX041 (a
differentiated loss divided by the count of a window mask, `lo <= pos < hi` with per-row
bounds such as a prompt offset and a length, with no floor: a batch in which every row's
window is empty, long prompts truncated away, gives 0/0 = NaN, and its gradient NaNs every
parameter; a plain `pos < length` mask is left alone: it is empty only for empty rows, a
fact of the data), MLX042 (a linear warmup factor `min(1, step / args.warmup)` over a command-line
length: 0, the natural "no warmup", raises ZeroDivisionError at the first step).

Job: find divisors that are zero for a legal input (an empty batch, an option set to 0),
stated on where the divisor comes from, not on its name.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import returns_of
from ..finding import Finding
from ..flow import assignments, helper_of
from ..names import dotted, last_name
from ..source import SourceFile, descendants
from .base import DIFFERENTIATES, Rule, differentiates, trains
from .differentiation import differentiated_nodes
from .numerics import function_bindings, subject

SUM = frozenset({"mlx.core.sum"})
AND = "mlx.core.logical_and"
DEPTH = 3


def conjuncts(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST],
              depth: int) -> list[ast.AST]:
    """The terms of `a & b & ...` or `mx.logical_and(a, b)`, through local names and casts;
    [node] for anything else."""
    if isinstance(node, ast.Name) and depth and node.id in bound:
        return conjuncts(source, bound[node.id], bound, depth - 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd):
        return [*conjuncts(source, node.left, bound, depth),
                *conjuncts(source, node.right, bound, depth)]
    if isinstance(node, ast.Call) and source.imports.resolve(node.func) == AND:
        return [t for a in node.args for t in conjuncts(source, a, bound, depth)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
            node.func.attr == "astype"):
        return conjuncts(source, node.func.value, bound, depth)
    return [node]


def bounds(term: ast.AST) -> Iterator[tuple[str, str]]:
    """(position text, "lo" or "hi") for each side of a comparison bounded by a non-constant
    (a per-row offset or length): `pos >= a` gives (pos, "lo"), `pos < b` (pos, "hi")."""
    if not (isinstance(term, ast.Compare) and len(term.ops) == 1):
        return
    left, right = term.left, term.comparators[0]
    if isinstance(term.ops[0], (ast.Gt, ast.GtE)):
        left, right = right, left
    elif not isinstance(term.ops[0], (ast.Lt, ast.LtE)):
        return
    if not isinstance(left, ast.Constant) and not isinstance(right, ast.Constant):
        yield ast.unparse(left), "hi"  # left < right
        yield ast.unparse(right), "lo"


def is_window(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> bool:
    """The mask is `lo <= pos < hi` with per-row `lo` and `hi` (a prompt offset and a
    length): empty in every row whose start reaches its end."""
    found = [b for t in conjuncts(source, node, bound, DEPTH) for b in bounds(t)]
    return any((pos, "lo") in found for pos, kind in found if kind == "hi")


def window_count(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST],
                 depth: int) -> bool:
    """`mask.sum()` or `mx.sum(mask)` for a window mask, through local names."""
    if isinstance(node, ast.Name):
        return depth > 0 and node.id in bound and window_count(source, bound[node.id], bound,
                                                               depth - 1)
    if not isinstance(node, ast.Call):
        return False
    counted = subject(source, node, SUM, "sum")
    return counted is not None and is_window(source, counted, bound)


class UnguardedMaskCount(Rule):
    """MLX041: in differentiated code, a division by the number of True entries of a window
    mask (`(pos >= offsets) & (pos < lengths)`, then `loss.sum() / mask.sum()`) with no
    floor (`mx.maximum(n, 1)`), in a module that cuts its sequences to a maximum length
    (`seq[:max_len]`, `min(len(prompt), max_len)`): a window is empty only when its start
    reaches its end, which a prompt can do once the sequence is cut (fresh16
    `raw_rows_batcher_keyerror_ok`, mlx-lm's loss copied with no cut: never empty)."""

    id = "MLX041"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return differentiates(text) and "sum(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not truncates(source):
            return
        for node in dict.fromkeys(differentiated_nodes(source)):
            if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
                continue
            bound = function_bindings(source, source.enclosing(node))
            if window_count(source, node.right, bound, DEPTH):
                yield self.hit(source, node)


def truncates(source: SourceFile) -> bool:
    """A slice up to, or a `min` with, a name that says it is a maximum (`max_len`,
    `MAX_SEQ_LENGTH`, `self.max_length`)."""
    cuts = [n.upper for n in source.of_type(ast.Slice) if n.upper is not None]
    cuts += [a for c in source.of_type(ast.Call) if last_name(c.func) == "min" for a in c.args]
    return any(maximum(n) for cut in cuts for n in descendants(cut))


def maximum(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(
        node, ast.Attribute) else ""
    return "max" in name.lower()


def options(source: SourceFile) -> set[str]:
    """Names bound to a parsed command line: `args = parser.parse_args()`, or `args =
    parse()` where the module's own `parse` returns one."""
    return source.cached("options", source.tree, lambda: {
        t.id for t, v in assignments(source.of_type(ast.Assign))
        if isinstance(t, ast.Name) and isinstance(v, ast.Call) and parses(source, v)})


def parses(source: SourceFile, call: ast.Call, depth: int = 2) -> bool:
    if last_name(call.func) in ("parse_args", "parse_known_args"):
        return True
    helper = helper_of(source, call) if depth else None
    return helper is not None and not isinstance(helper, ast.Lambda) and any(
        isinstance(r, ast.Call) and parses(source, r, depth - 1) for r in returns_of(helper))


def one(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == 1


def guarded(source: SourceFile, node: ast.AST, text: str) -> bool:
    """An `if`/conditional expression between `node` and its function tests `text`."""
    parent = source.parents.get(node)
    while parent is not None and not isinstance(parent, (ast.FunctionDef, ast.Module)):
        if isinstance(parent, (ast.If, ast.IfExp, ast.While)) and any(
                ast.unparse(n) == text for n in descendants(parent.test)):
            return True
        parent = source.parents.get(parent)
    return False


class WarmupByOption(Rule):
    """MLX042: `min(1, step / args.warmup)` (or `mx.minimum`) in a training module, the length
    read from the command line with no floor and no `if args.warmup` around it."""

    id = "MLX042"
    anchors = ("parse_",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("min(" in text or "minimum(" in text) and "parse_" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        parsed = options(source)
        for call in source.of_type(ast.Call):
            if not (isinstance(call.func, ast.Name) and call.func.id == "min"
                    or source.imports.resolve(call.func) == "mlx.core.minimum"):
                continue
            if len(call.args) == 2 and any(one(a) for a in call.args):
                yield from self._ramps(source, call, parsed)

    def _ramps(self, source: SourceFile, call: ast.Call, parsed: set[str]) -> Iterator[Finding]:
        for ratio in call.args:
            if not (isinstance(ratio, ast.BinOp) and isinstance(ratio.op, ast.Div)):
                continue
            parts = dotted(ratio.right)
            if parts and len(parts) == 2 and parts[0] in parsed and may_be_zero(
                    source, parts[1]) and not guarded(source, call, ast.unparse(ratio.right)):
                yield self.hit(source, ratio)


def may_be_zero(source: SourceFile, option: str) -> bool:
    """A length the user may set to 0: a warm-up (0 turns it off), or an option whose
    declared default is 0 (`--iters 300` is not one)."""
    if "warm" in option:
        return True
    default = option_defaults(source).get(option)
    return default is None or (isinstance(default, ast.Constant) and default.value == 0)


def option_defaults(source: SourceFile) -> dict[str, ast.AST]:
    """`--warmup-steps ... default=0` -> {"warmup_steps": 0}, from `add_argument` calls."""
    def make() -> dict[str, ast.AST]:
        found: dict[str, ast.AST] = {}
        for call in source.of_type(ast.Call):
            flag = call.args[0] if last_name(call.func) == "add_argument" and call.args else None
            default = next((k.value for k in call.keywords if k.arg == "default"), None)
            if isinstance(flag, ast.Constant) and isinstance(flag.value, str) and default:
                found[flag.value.lstrip("-").replace("-", "_")] = default
        return found
    return source.cached("option_defaults", source.tree, make)

