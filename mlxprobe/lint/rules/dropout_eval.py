"""MLX144: a model with dropout evaluated in training mode: the file builds `nn.Dropout`
with a rate above 0 and has an evaluation function (named for test, eval, valid, accuracy,
predict), but never calls `.eval()` or `.train(...)` anywhere. An MLX module is in training
mode from its construction until `.eval()`, so every test or validation number the run
prints is computed with units dropped at random: lower than the model's real accuracy,
different at every evaluation of the same weights.

Measured (mlx 0.32.4 CPU, failure corpus fresh42 `cifar_cnn_dropout_test_mode`, from the fix
commit of mlx-cifar-10-cnn): a CNN with `nn.Dropout(0.25)` printed test accuracy 0.892 at its
last epoch and 0.9242 for the same weights reloaded and tested again; with `model.eval()` at
the top of its test function and `model.train()` at the top of its train function it printed
0.964 both times. `nn.Dropout(0.5)` of a fresh module zeroes about half its input
(`module.training` is True).

Job: `nn.Dropout`, `Dropout2d` or `Dropout3d` built with a number above 0 (positionally or as
`p=`), or with a parameter of the enclosing function whose default is such a number, in a
file with a training loop and a function whose name holds `test`, `eval`, `valid`,
`accuracy` or `predict` (as a word of a snake_case name) that calls something; no `.eval()`
(on anything but mx) and no `.train(False)` or `.train(flag)` in the file (a `.train()` alone
switches to the mode a module starts in: fresh80 `solubility_dropout_eval`, mlx issue 1531,
calls `model.train()` before its loop and evaluates with dropout on). An evaluation function
that calls inside a loop or comprehension over `_` (Monte Carlo dropout: the same input
sampled again and averaged, on purpose) is not one. The finding is on the evaluation function.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import defaults
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule, trains
from .eval_mode import eval_call

DROPOUTS = frozenset({"mlx.nn.Dropout", "mlx.nn.Dropout2d", "mlx.nn.Dropout3d",
                      "mlx.nn.layers.dropout.Dropout"})
EVALUATION = re.compile(r"(?:^|_)(?:test|tests|eval|evaluate|evaluation|valid|validate|"
                        r"validation|val|accuracy|acc|predict)(?:_|$)", re.IGNORECASE)
# switches to evaluation mode: `.eval()` (not mx.eval), `.train(False)`, `.train(flag)`; a
# `.train()` or `.train(True)` alone leaves a module in training mode, where it already is
SWITCHES = re.compile(r"\.train\((?!\s*(?:(?:mode\s*=\s*)?True)?\s*\))|(?<!mx)\.eval\(\s*\)")


class DropoutAtEvaluation(Rule):
    """MLX144: `nn.Dropout(0.25)` and a `test_epoch` with no `model.eval()` in the file."""

    id = "MLX144"
    anchors = ("Dropout",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "Dropout" in text and trains(text) and SWITCHES.search(text) is None

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if any(eval_call(c) or _leaves_training(c) for c in source.of_type(ast.Call)):
            return
        if not any(_drops(source, c) for c in source.of_type(ast.Call)):
            return
        found = next((f for f in source.of_type(*FUNCTIONS)
                      if EVALUATION.search(f.name) and _evaluates(f)), None)
        if found is not None:  # one finding: the switch is one per program
            yield self.hit(source, found)


def _leaves_training(call: ast.Call) -> bool:
    """`.train(False)`, `.train(mode=flag)`: a switch out of training mode, or one that may
    be (`.train()` and `.train(True)` are none)."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "train"):
        return False
    given = [*call.args, *(k.value for k in call.keywords)]
    return any(not (isinstance(g, ast.Constant) and g.value is True) for g in given)


def _drops(source: SourceFile, call: ast.Call) -> bool:
    """A Dropout layer built with a rate above 0 (a number, or a parameter whose default
    is one)."""
    if source.imports.resolve(call.func) not in DROPOUTS:
        return False
    rate = call.args[0] if call.args else next(
        (k.value for k in call.keywords if k.arg == "p"), None)
    return _positive(rate) or _positive(_default(source, call, rate))


def _positive(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool) and node.value > 0


def _default(source: SourceFile, call: ast.Call, rate: ast.AST | None) -> ast.AST | None:
    """The default of the enclosing function's parameter `rate` names, if it has one."""
    function = source.enclosing(call)
    if not isinstance(rate, ast.Name) or function is None:
        return None
    return defaults(function).get(rate.id)


def _evaluates(function: ast.AST) -> bool:
    """The function calls something, and none of it inside a loop over `_` (sampling)."""
    nodes = [n for stmt in function.body for n in descendants(stmt)]
    if not any(isinstance(n, ast.Call) for n in nodes):
        return False
    return not any(isinstance(n, (ast.For, ast.comprehension)) and isinstance(n.target, ast.Name)
                   and n.target.id == "_" for n in nodes)
