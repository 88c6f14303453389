"""MLX212: a call of one of the file's own functions that leaves a required parameter
unfilled, passes more positional arguments than it takes, or names a keyword it does not
have: Python raises TypeError when the line runs. In a training script that line is often
the last one (saving the adapters, a final evaluation), so the run trains for its whole
length and then loses what it trained.

Measured (mlx 0.32.4 CPU, failure corpus fresh197 `cipherword_reinforce`, wordle-rl-gemma
02a177c): a REINFORCE run trained its 300 steps, then `save_checkpoint(policy,
adapter_path.stem, "final", timestamp)` against `def save_checkpoint(model, save_dir,
checkpoint_file_name, step, timestamp)` raised TypeError: missing 1 required positional
argument: 'timestamp', and no checkpoint was written; called with every argument named, it
saved. Fresh200 `swinv2_window_bias` (mlx-examples' Swin V2, DINO_DETR_MLX c22fca1):
`shifted_window_attention(..., qkv_bias=..., proj_bias=...)` against a def with no such
parameters raised TypeError: unexpected keyword argument 'qkv_bias' at the first step.

Job: a call of a plain name that the file defines once as a function
(`callers.local_calls`: undecorated, outside a class body, the name bound nowhere else); the call
has no `*args` or `**kwargs`; either a parameter without a default is given neither by
position nor by keyword, or there are more positional arguments than positional parameters
and the function takes no `*args`, or a keyword names no parameter and the function takes no
`**kwargs`. A method (`self.f(...)`) is not read. Where the call's positional arguments are
plain names that match the function's parameters, each at its own place or later, the
parameters between them that nothing fills are named in the finding: Python's message names
the last parameter left without a value, which a shift makes the wrong one (fresh265
`gambit_ledger_sweep`, chessNetV2 b75a0a3: `test(model, val_dset_path, batch_size, eval_fn,
lax_eval_fn, num_batches=500)` against `def test(model, bin_size, val_dset_path, ...)` raised
"missing 1 required positional argument: 'lax_eval_fn'"; `bin_size` was left out).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator

from ..callers import local_calls
from ..finding import Finding
from ..source import SourceFile
from .base import Rule, calls_and_trains


class LocalCallArity(Rule):
    """MLX212: a local function called with a required parameter missing or extra ones."""

    id = "MLX212"
    anchors = ("def ",)

    may_fire = staticmethod(calls_and_trains)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call, function in local_calls(source, decorated=False):
            if mismatched(call, function.args):
                found = self.hit(source, call)
                left = skipped(call, function.args)
                yield dataclasses.replace(found, message=f"{found.message}; here the arguments "
                                          f"named like its parameters sit early: "
                                          f"{', '.join(left)} left out") if left else found


def skipped(call: ast.Call, args: ast.arguments) -> list[str]:
    """The parameters, in backquotes, between positional arguments named like parameters
    (each at its own place or later) that neither a position nor a keyword fills."""
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    places = [(i, positional.index(a.id)) for i, a in enumerate(call.args)
              if isinstance(a, ast.Name) and a.id in positional]
    if not places or any(p < i for i, p in places) or all(p == i for i, p in places):
        return []
    filled = {p for _, p in places} | {k.arg for k in call.keywords}
    first, last = min(p for _, p in places), max(p for _, p in places)
    return [f"`{name}`" for index, name in enumerate(positional[first:last], first)
            if index not in filled and name not in filled]


def mismatched(call: ast.Call, args: ast.arguments) -> bool:
    """A required parameter left unfilled, too many positional arguments, or an unknown
    keyword."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords):
        return False
    positional = [*args.posonlyargs, *args.args]
    if len(call.args) > len(positional) and args.vararg is None:
        return True
    named = {a.arg for a in (*args.args, *args.kwonlyargs)}
    if args.kwarg is None and any(k.arg not in named for k in call.keywords):
        return True
    given = {a.arg for a in positional[:len(call.args)]} | {k.arg for k in call.keywords}
    required = [a.arg for a in positional[:len(positional) - len(args.defaults)]] + [
        a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
    return any(name not in given for name in required)
