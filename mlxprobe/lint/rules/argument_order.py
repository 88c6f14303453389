"""MLX207: a call of one of the file's own functions that passes, by position, names that are
the function's own parameter names in other slots: `compute_loss_and_grads(x, t5_feat,
clip_feat, guidance)` for `def compute_loss_and_grads(t5_feat, clip_feat, x, guidance)`. Each
argument lands in the slot of another, so the latents go in as the text features: a shape
error at the first step when their shapes differ, a model trained on swapped inputs when they
agree (pylint's `arguments-out-of-order`, kept to three or more names moved).

Measured (mlx 0.32.4 CPU, failure corpus fresh194 `kestrel_flowlora_accum`, mlx-examples
3c587ed): a compiled LoRA step for gradient accumulation declared as (t5_feat, clip_feat, x,
guidance) and called as (x, t5_feat, clip_feat, guidance) raised ValueError: [addmm] Last
dimension of first input with shape (2,8,16) must match ... (24,48) at the first accumulated
step; declared in the order it is called, it trains.

Job: a call of a name the file defines once as a function (`callers.local_calls`, decorated
or not: `mx.compile` keeps the signature), at least MIN_MISPLACED of whose positional
arguments are plain names that are parameters of that function at another position (only
plain-name calls: a method called through an attribute is not read).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..callers import local_calls
from ..finding import Finding
from ..source import SourceFile
from .base import Rule, calls_and_trains

# a swapped pair is meant as often as not: `render(b, a)` for a mirror image (fresh181
# `dominoes_pip_vae_betaramp_jsonl`), `distance(s2, s1)` in a symmetric recursion (mlx-vlm's
# evals/math_vista.py); three names each in another's slot is a rotation nobody means
MIN_MISPLACED = 3


class ArgumentsOutOfOrder(Rule):
    """MLX207: a local function called with its own parameter names in other slots."""

    id = "MLX207"
    anchors = ("def ",)

    may_fire = staticmethod(calls_and_trains)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call, function in local_calls(source, decorated=True):
            if len(call.args) >= MIN_MISPLACED and misplaced(call, function) >= MIN_MISPLACED:
                yield self.hit(source, call)


def misplaced(call: ast.Call, function: ast.AST) -> int:
    """How many of the function's positional parameter names are passed by position at
    another position (each name once, however often)."""
    args = function.args  # type: ignore[attr-defined]
    slots = {a.arg: i for i, a in enumerate((*args.posonlyargs, *args.args))}
    return len({arg.id for i, arg in enumerate(call.args) if isinstance(arg, ast.Name)
                and arg.id in slots and slots[arg.id] != i})
