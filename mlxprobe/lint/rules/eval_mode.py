"""MLX124: a model put in eval mode (`model.eval()`) and then trained with no `.train()` call
anywhere in the file: every layer that behaves differently while training (Dropout is off,
BatchNorm uses and never updates its running statistics, code under `if self.training:` is
skipped) runs as at inference for the whole run, or from the first validation pass on.

Measured (mlx 0.32.4 CPU, failure corpus fresh26 `moe_switch_eval_mode_finetune`, from
textpolicy's fix): a mixture-of-experts layer that stops the gradient to its routing indices
only `if self.training:` raised `[GatherMM] Cannot calculate VJP with respect to indices` at
the first step after a baseline validation pass had called `model.eval()`; with
`model.train()` before the loop it fine-tuned (val 3.86 -> 0.69).

Job: find `X.eval()` (no arguments) in a function, or at module level, that also holds a loop
ending after it whose body steps an optimizer on `X` (`optimizer.update(X, grads)`), or in a
loader that returns `X` to callers that bind it and train it so (fresh210
`wicker_router_evalmode`: `load_model()` ends with `m.eval()` as `mlx_lm.load` does); a file
that calls `.train()` (or `.train(True)`) anywhere is left alone, as is `mx.eval()`. And, in a
file that does call `.train()`: a loop that steps an optimizer on `X` and runs `X.eval()`
(itself or in a helper it calls, a validation pass) but no `X.train()` anywhere in what it
runs: a `model.train()` once before the loop is undone by the first validation (failure
corpus fresh67 `dropout_off_after_val`, mlx-lm-lora commit 7d04974: dropout off from the
first validation on; the fix calls `model.train()` after it). A model that mlx-lm builds
from a module whose layers run the same in both modes (`TRAIN_MODE_MODELS`) is left alone.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..finding import Finding
from ..flow import bound, calls, name_values, reach, walk
from ..source import LOOPS, SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update, updated_model

# mlx-lm's model modules (0.32) with a layer that behaves otherwise in training (Dropout,
# BatchNorm, a `self.training` branch), in themselves or through a model module they import;
# its other models (llama, qwen2, mistral, ...) run the same in both modes, so eval mode
# changes nothing in them (fresh348 `correct_sailloft_tally_dwq_jsd`, correct: a DWQ student
# built as `llama.Model(args)`, put in eval mode and tuned). A test checks the set against
# the installed mlx-lm.
TRAIN_MODE_MODELS = frozenset({
    "afm7", "bailing_moe_v3", "dbrx", "kimi_k3", "kimi_linear", "olmo_hybrid", "plamo3",
    "prism_hadamard_qwen35", "qwen3_5", "qwen3_5_moe", "qwen3_next"})
MLX_LM_MODEL = re.compile(r"mlx_lm\.models\.(\w+)\.Model")
TRAIN_CALL = re.compile(r"\.train\(\s*(\)|True|mode\s*=\s*True)")


def eval_call(node: ast.AST) -> str | None:
    """The name `X` of a call `X.eval()` with no arguments (not `mx.eval`)."""
    if not isinstance(node, ast.Call) or node.args or node.keywords:
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "eval" and \
            isinstance(func.value, ast.Name) and func.value.id not in ("mx", "mlx", "core"):
        return func.value.id
    return None


def steps_on(source: SourceFile, loop: ast.AST, name: str) -> bool:
    """The loop's body (and the module's own helpers it calls) steps an optimizer on `name`."""
    for call in calls(reach(source, loop.body)):
        if is_optimizer_update(source, call):
            model = updated_model(call)
            if isinstance(model, ast.Name) and model.id == name:
                return True
    return False


def trained_after(source: SourceFile, scope: ast.AST, line: int, name: str) -> bool:
    """A loop of `scope` that ends after `line` steps an optimizer on `name`, unless it
    holds `line` and binds `name` anew before it in each pass: the steps then train the
    next pass's model, not the one put in eval mode (fresh287 `estuary_zone_teacher_panel`:
    `m = mlp(64, 2)` at the start of a loop over sites, `m.eval()` at its end)."""
    return any(isinstance(n, LOOPS) and n.end_lineno >= line and steps_on(source, n, name)
               and not rebound_per_pass(n, line, name) for n in walk(scope.body))


def rebound_per_pass(loop: ast.AST, line: int, name: str) -> bool:
    """`loop` holds `line` and a statement of its own body before `line` binds `name`."""
    return loop.lineno <= line and any(
        s.lineno < line and name in bound(s) for s in loop.body)


def loaded(source: SourceFile, function: ast.AST, name: str) -> list[tuple[ast.AST, str]]:
    """When `function` returns `name` (alone, or at place k of a tuple), each assignment of
    its result in the module and the name bound there to that model: a loader that puts the
    model in eval mode before it hands it over (fresh210 `wicker_router_evalmode`, a
    `load_model()` that calls `m.eval()` like `mlx_lm.load`, then trained with no
    `model.train()`)."""
    places = {returned_place(r.value, name) for r in ast.walk(function)
              if isinstance(r, ast.Return)} - {None}
    if not isinstance(function, ast.FunctionDef) or len(places) != 1:
        return []
    place = places.pop()
    return [(a, bound) for a in source.of_type(ast.Assign)
            if isinstance(a.value, ast.Call) and isinstance(a.value.func, ast.Name)
            and a.value.func.id == function.name and len(a.targets) == 1
            and (bound := bound_at(a.targets[0], place)) is not None]


def returned_place(value: ast.AST | None, name: str) -> int | None:
    """-1 for `return name`, k for `return ..., name, ...` at place k; else None."""
    if isinstance(value, ast.Name) and value.id == name:
        return -1
    if isinstance(value, ast.Tuple):
        return next((k for k, e in enumerate(value.elts)
                     if isinstance(e, ast.Name) and e.id == name), None)
    return None


def bound_at(target: ast.AST, place: int) -> str | None:
    if place == -1:
        return target.id if isinstance(target, ast.Name) else None
    if isinstance(target, ast.Tuple) and place < len(target.elts) and isinstance(
            target.elts[place], ast.Name):
        return target.elts[place].id
    return None


class TrainedInEvalMode(Rule):
    """MLX124: `model.eval()` then `optimizer.update(model, grads)` in a later loop, and no
    `model.train()` in the file."""

    id = "MLX124"
    anchors = (".eval()",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".eval()" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if TRAIN_CALL.search(source.text):
            yield from self._eval_in_loop(source)
            return
        for call in source.of_type(ast.Call):
            name = eval_call(call)
            if name is None or inert_model(source, call, name):
                continue
            scope = source.enclosing(call) or source.tree
            if trained_after(source, scope, call.lineno, name) or any(
                    trained_after(source, source.enclosing(site) or source.tree, site.lineno,
                                  bound) for site, bound in loaded(source, scope, name)):
                yield self.hit(source, call)

    def _eval_in_loop(self, source: SourceFile) -> Iterator[Finding]:
        """The `X.eval()` a training loop on `X` runs, when nothing it runs calls
        `X.train()`."""
        for loop in source.of_type(*LOOPS):
            ran = list(calls(reach(source, loop.body)))
            evals = [(c, eval_call(c)) for c in ran]
            for call, name in evals:
                if name is not None and steps_on(source, loop, name) and not inert_model(
                        source, call, name) and not any(
                        _train_call(c, name) for c in ran):
                    yield self.hit(source, call)


def inert_model(source: SourceFile, call: ast.AST, name: str) -> bool:
    """`name` is bound, where `call` runs, only to models of mlx-lm that behave alike in
    training and eval mode (`TRAIN_MODE_MODELS`)."""
    values = name_values(source, name, source.enclosing(call))
    built = [MLX_LM_MODEL.fullmatch(source.imports.resolve(v.func) or "")
             if isinstance(v, ast.Call) else None for v in values]
    return bool(built) and all(m is not None and m.group(1) not in TRAIN_MODE_MODELS
                               for m in built)


def _train_call(call: ast.Call, name: str) -> bool:
    """`name.train()` or `name.train(True)`."""
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "train"
            and isinstance(func.value, ast.Name) and func.value.id == name
            and not (call.args and isinstance(call.args[0], ast.Constant)
                     and call.args[0].value is False))
