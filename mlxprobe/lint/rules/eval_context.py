"""MLX232: `with mx.eval():` (or `mx.async_eval`, `mx.stop_gradient`) as if it were a
no-gradient block such as PyTorch's `torch.no_grad()`. `mx.eval()` returns None, so the `with`
raises `TypeError: 'NoneType' object does not support the context manager protocol` the
first time it runs; MLX needs no such block (a forward pass outside the differentiated
function takes no gradient; `mx.stop_gradient(x)` wraps a value, not a block).

Measured (mlx 0.32.4 CPU, failure corpus fresh236 `saltmarsh_ledger_grpo`, searlion/
mlx-finetuning 8bc28cc "removed mx.eval()"): a GRPO loop that computed its reference and
old-policy log-probabilities under `with mx.eval():` died with that TypeError at its first
iteration; without the block it trained (mean reward 0.10 -> 0.87).

Job: a `with` item that is a call resolving to one of those functions.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule

NOT_CONTEXTS = frozenset({"mlx.core.eval", "mlx.core.async_eval", "mlx.core.stop_gradient"})


class EvalAsContext(Rule):
    """MLX232: `with mx.eval():`, a value used as a block."""

    id = "MLX232"
    anchors = ("with ",)
    local = True  # one statement

    @staticmethod
    def may_fire(text: str) -> bool:
        return "with " in text and ("eval(" in text or "stop_gradient(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for node in source.of_type(ast.With, ast.AsyncWith):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and source.imports.resolve(
                        call.func) in NOT_CONTEXTS:
                    yield self.hit(source, call)
