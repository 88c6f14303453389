"""MLX261: a step count taken modulo (or divided by) a setting whose declared default is 0,
with no test of that setting around it: `step % args.logging_steps` where the config says
`logging_steps: int = 0` ("off"). Left at its default, the first time the line runs Python
raises `ZeroDivisionError` (an MLX array gives inf or NaN instead), mid-run, after the model
was built and its data read.

Measured (mlx 0.32.4 CPU, failure corpus fresh289 `heron_sluice_grpo`, from unsloth-zoo
2dfb0c4: "guard the KL probe when logging is off"): a GRPO trainer gated a KL probe with
`prospective_step % args.logging_steps == 0` under a dataclass default `logging_steps: int
= 0`; the first optimizer step raised ZeroDivisionError (rc 1); reading the interval as
`kl_every > 0 and step % kl_every == 0` it trained.

Job: `a % d`, `a // d` or `a / d` where `d` is `X.name` and `name` is declared with the
default 0 in the file (a dataclass or class field `name: int = 0`, or
`add_argument("--name", default=0)`) and never stored into (`self.count += 1` is a counter),
or `d` is a parameter of the enclosing function whose default is 0; unless an `if`/`while`/
conditional test around it, or another operand of the same `and`/`or`, reads `d` outside
this division (`if d and step % d == 0`, `if d > 0:`).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import tested_apart
from ..source import SourceFile
from .base import Rule, trains
from .divisors import option_defaults

DIVIDES = (ast.Mod, ast.FloorDiv, ast.Div)


def zero(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and node.value == 0


def zero_fields(source: SourceFile) -> set[str]:
    """Names a class body declares with the default 0, and options `add_argument` declares
    with `default=0` (`divisors.option_defaults`)."""
    def make() -> set[str]:
        found = {s.target.id for c in source.of_type(ast.ClassDef) for s in c.body
                 if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                 and zero(s.value)}
        return found | {name for name, d in option_defaults(source).items() if zero(d)}
    return source.cached("zero_fields", source.tree, make)


def stored_attributes(source: SourceFile) -> set[str]:
    """Attribute names the file stores into (`self.count += 1`, `cfg.steps = 10`): a
    counter or a value set at run time, no setting left at its default."""
    return source.cached("stored_attributes", source.tree, lambda: {
        n.attr for n in source.of_type(ast.Attribute) if isinstance(n.ctx, ast.Store)})


def zero_parameters(function: ast.AST | None) -> set[str]:
    """The enclosing function's parameters whose default is 0."""
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return set()
    args = function.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg for a, d in pairs if zero(d)}


def read_elsewhere(source: SourceFile, division: ast.BinOp) -> bool:
    """A test around `division`, or another operand of an `and`/`or` holding it, reads the
    divisor (`flow.tested_apart`)."""
    text = ast.unparse(division.right)
    return tested_apart(source, division, lambda n: ast.unparse(n) == text)


class ZeroDefaultDivisor(Rule):
    """MLX261: `step % args.logging_steps` where `logging_steps: int = 0`."""

    id = "MLX261"
    anchors = ("= 0", "=0")

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("= 0" in text or "=0" in text) and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        fields = zero_fields(source)
        for node in source.of_type(ast.BinOp):
            if isinstance(node.op, DIVIDES) and self._zero_default(source, node, fields) \
                    and not read_elsewhere(source, node):
                yield self.hit(source, node)

    @staticmethod
    def _zero_default(source: SourceFile, node: ast.BinOp, fields: set[str]) -> bool:
        d = node.right
        if isinstance(d, ast.Attribute):
            return d.attr in fields and d.attr not in stored_attributes(source)
        return isinstance(d, ast.Name) and d.id in zero_parameters(source.enclosing(node))
