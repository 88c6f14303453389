"""MLX266: a function's local value computed from some of its arguments and never read, and
those arguments read nowhere else in the function: the inputs have no effect on what the
function returns. In a layer or a loss, the dropped value is a gate, a decay or a term whose
parameters then get a zero gradient and keep their initial values; in a data loader, an
argument (a split, a list of requests) that is taken and ignored.

Measured (mlx 0.32.4 CPU, failure corpus fresh294 `ebbtide_ledger_deltanet`, from mlx-lm
d6c4599, which added the missing `state *= g[:, i, :, None, None]`): a gated delta rule
computed `g = compute_g(A_log, a, dt_bias)` and never applied it, so `A_log` and `dt_bias`
kept their initial values through training (max drift 0.0 after 20 Adam steps; 0.084 and
0.082 with the decay applied; watch: `no_update:part`). Over every corpus, scenario and
example script that trains (4,990 files at stop 82), three files hold such a value, all
three marked broken (the other two a data loader's: fresh59 `split_loader_undefined_ds`,
fresh262 `marten_ledger_rolling`); a plain unused local (pyflakes' F841) fires on 15 clean
scripts there, nearly all a quantity computed for a print that was later removed
(`mu = mx.exp(log_mu)` beside a loss written in `log_mu`).

Job: in a def of a file that defines functions and trains, `name = <expression>` (one plain
name, not `_`-prefixed) that the function reads nowhere (no load, no `del`, no `global` or
`nonlocal` of it, no `locals()`/`vars()`), whose expression reads at least one of the def's
arguments (`self` and `cls` apart) that the function reads nowhere outside it, not as what
the expression calls (`step(x)`, `opt.update(...)`: run for its effect).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import arguments
from ..source import FUNCTIONS, SourceFile
from .base import Rule, calls_and_trains

INTROSPECTION = frozenset({"locals", "vars", "eval", "exec"})


def reads(source: SourceFile, function: ast.AST) -> dict[str, list[ast.Name]] | None:
    """Each name the function reads (loads and deletes, nested defs included), or None when
    it may read names by their text (`locals()`, `vars()`); a `global`/`nonlocal` name
    counts as read."""
    def make() -> dict[str, list[ast.Name]] | None:
        found: dict[str, list[ast.Name]] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
                if node.id in INTROSPECTION:
                    return None
                found.setdefault(node.id, []).append(node)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                for name in node.names:
                    found.setdefault(name, [])
        return found
    return source.cached("dropped_input_reads", function, make)


def dropped(value: ast.AST, names: dict[str, list[ast.Name]], inputs: set[str]) -> bool:
    """`value` reads an argument whose every read lies inside `value`, not one it calls (a
    step function or an optimizer passed in runs for what it does, whatever it returns:
    fresh357 `tally_residue_grok`, correct, `loss = step(X_fit, Y_fit)` in a loop that
    evaluates the state the compiled step updates)."""
    inside = {id(n) for n in ast.walk(value)}
    called = {id(callee(c.func)) for c in ast.walk(value) if isinstance(c, ast.Call)}
    taken = {n.id for n in ast.walk(value) if isinstance(n, ast.Name) and n.id in inputs
             and id(n) not in called}
    return any(all(id(n) in inside for n in names.get(a, ())) for a in taken)


def callee(func: ast.AST) -> ast.AST:
    """The name a call runs, or whose method it runs (`step` of `step(x)`, `opt` of
    `opt.update(...)`)."""
    return func.value if isinstance(func, ast.Attribute) else func


class DroppedInput(Rule):
    """MLX266: `g = compute_g(A_log, a, dt_bias)`, then `g` and `A_log` read nowhere else."""

    id = "MLX266"
    anchors = ("def ",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return calls_and_trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.Assign):
            target = node.targets[0]
            if len(node.targets) == 1 and isinstance(target, ast.Name) \
                    and not target.id.startswith("_") and self._dropped(source, node, target.id):
                yield self.hit(source, node)

    @staticmethod
    def _dropped(source: SourceFile, node: ast.Assign, name: str) -> bool:
        function = source.enclosing(node)
        if not isinstance(function, FUNCTIONS):
            return False
        names = reads(source, function)
        return names is not None and name not in names and dropped(
            node.value, names, arguments(function) - {"self", "cls"})
