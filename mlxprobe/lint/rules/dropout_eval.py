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
`p=`), or with a name that may hold one (`rate_value`: a parameter's default, what the
module's own calls pass for it, up to an option's default: fresh158 `modsum_grok_eval`), in a
file with a training loop and a function whose name holds `test`, `eval`, `valid`,
`accuracy` or `predict` (as a word of a snake_case name) that calls something; no `.eval()`
(on anything but mx) and no `.train(False)` or `.train(flag)` in the file (a `.train()` alone
switches to the mode a module starts in: fresh80 `solubility_dropout_eval`, mlx issue 1531,
calls `model.train()` before its loop and evaluates with dropout on; `net.train(data, ...)`
on an instance of the module's own class that defines `train` is not a switch either). An
evaluation function that calls inside a loop or comprehension over `_`, or calls a function of
the module that does (Monte Carlo dropout: the same input sampled again and averaged, on
purpose), is not one. The finding is on the
evaluation function.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import instance_method
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule, trains
from .rate_value import values

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
        return "Dropout" in text and trains(text) and (
            SWITCHES.search(text) is None or "def train(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if any(_to_evaluation(c) or _leaves_training(source, c)
               for c in source.of_type(ast.Call)):
            return
        if not any(_drops(source, c) for c in source.of_type(ast.Call)):
            return
        found = next((f for f in source.of_type(*FUNCTIONS)
                      if EVALUATION.search(f.name) and _evaluates(source, f)), None)
        if found is not None:  # one finding: the switch is one per program
            yield self.hit(source, found)


def _to_evaluation(call: ast.Call) -> bool:
    """`X.eval()` on anything but MLX itself (`self.model.eval()` as well as `model.eval()`),
    as `SWITCHES` reads the text."""
    func = call.func
    return not (call.args or call.keywords) and isinstance(func, ast.Attribute) and (
        func.attr == "eval") and ast.unparse(func.value) not in ("mx", "mlx", "mlx.core", "core")


def _leaves_training(source: SourceFile, call: ast.Call) -> bool:
    """`.train(False)`, `.train(mode=flag)`: a switch out of training mode, or one that may
    be (`.train()` and `.train(True)` are none; nor is `trainer.train(data, epochs=40)` on
    an instance of the module's own class that defines `train`: fresh158
    `modsum_grok_eval`)."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "train"):
        return False
    receiver = call.func.value
    if isinstance(receiver, ast.Name) and instance_method(source, receiver.id, "train"):
        return False
    given = [*call.args, *(k.value for k in call.keywords)]
    return any(not (isinstance(g, ast.Constant) and g.value is True) for g in given)


def _drops(source: SourceFile, call: ast.Call) -> bool:
    """A Dropout layer built with a rate above 0: a number, or a name that may hold one
    (`rate_value`: a module constant, an option's default, a parameter's default or what
    the module's calls pass for it)."""
    if source.imports.resolve(call.func) not in DROPOUTS:
        return False
    rate = call.args[0] if call.args else next(
        (k.value for k in call.keywords if k.arg == "p"), None)
    return any(_positive(v) for v in values(source, rate, call))


def _positive(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool) and node.value > 0


def _evaluates(source: SourceFile, function: ast.AST) -> bool:
    """The function calls something, and none of it inside a loop over `_` (sampling), nor
    does a function of the module it calls (fresh272 `nightjar_roost_mcdropout_resume`,
    correct: `evaluate` calls `mc_predict`, which averages 20 passes with dropout on)."""
    nodes = [n for stmt in function.body for n in descendants(stmt)]
    if not any(isinstance(n, ast.Call) for n in nodes):
        return False
    helpers = [h for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
               and (h := source.local_function(n.func.id)) is not None and h is not function]
    return not any(_samples(n) for n in nodes) and not any(
        _samples(n) for h in helpers for stmt in h.body for n in descendants(stmt))


def _samples(node: ast.AST) -> bool:
    """A loop or comprehension over `_`: the same input sampled again."""
    return isinstance(node, (ast.For, ast.comprehension)) and isinstance(
        node.target, ast.Name) and node.target.id == "_"
