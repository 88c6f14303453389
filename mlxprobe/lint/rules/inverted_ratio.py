"""MLX282: an importance ratio written old over new, `mx.exp(logprobs_old - logprobs)`: the
clipped surrogate of PPO and GRPO weights each advantage by pi_new / pi_old = exp(new - old);
inverted, a step that raises an action's probability lowers its ratio, so the policy is pushed
away from the actions with positive advantages and the reward falls.

Measured (mlx 0.32.4 CPU, failure corpus fresh21 `grpo_bandit_ratio_flip`,
chuk-finetune 6e3fd0b, which writes `mx.exp(logprobs_current - logprobs_old)`): greedy reward
0.171 at iteration 0, 0.009-0.020 from iteration 25 on, exact match 0.097 -> 0.005; with the
ratio the right way round, 0.171 -> 0.829 and 0.097 -> 0.820.

Job: `exp(a - b)` (any `exp`: `mx.exp`, `np.exp`, a method) whose left operand is a plain name
or attribute holding the word `old` and whose right operand is one holding a log-probability
word (`logp`, `logprob(s)`, `log_prob(s)`, `log_probs`, `logps`) and neither `old` nor a
reference word (`ref`, `reference`): a KL estimator's `exp(ref - logp)` is right as written.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..names import last_name
from ..source import SourceFile
from .base import AnchoredRule

OLD = re.compile(r"(?i)(?:^|_)old(?:$|_)")
LOG_PROB = re.compile(r"(?i)log_?probs?|logps?(?:$|_)|log_?p(?:$|_)")
REFERENCE = re.compile(r"(?i)(?:^|_)(?:ref|reference|old)(?:$|_)")


def named(node: ast.AST) -> str:
    """The name a plain name or an attribute reads (`self.logprobs_old`: `logprobs_old`)."""
    return last_name(node) or "" if isinstance(node, (ast.Name, ast.Attribute)) else ""


def inverted(node: ast.AST) -> bool:
    """`old - new` of log-probabilities."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)):
        return False
    left, right = named(node.left), named(node.right)
    return bool(OLD.search(left) and LOG_PROB.search(right) and not REFERENCE.search(right))


class InvertedRatio(AnchoredRule):
    """MLX282: `ratios = mx.exp(logprobs_old - logprobs_current)`."""

    id = "MLX282"
    anchors = ("old",)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            func = call.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "exp" and len(call.args) == 1 and inverted(call.args[0]):
                yield self.hit(source, call)
