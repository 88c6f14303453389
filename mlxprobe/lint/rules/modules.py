"""Rules about what a program does to a whole nn.Module: MLX054 (one constant initialiser
applied to every parameter, weights included), MLX055 (a training loop or step function that
evaluates only the trainable parameters of a model with BatchNorm, whose running statistics
every forward pass updates), MLX056 (`mx.checkpoint` over a module, or over a lambda calling
a module it captures: its parameters are not arguments).

Job: find modules by what binds them (`nn.*` layers and the module's own classes, lists of
them, their attributes) and match what is applied to them.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import layer_attributes, module_instances
from ..finding import Finding
from ..flow import assignments, body_nodes, calls
from ..names import EVAL, dotted
from ..source import FUNCTIONS, LOOPS, SourceFile, descendants
from .base import Rule, trains

CONSTANT_INIT = "mlx.nn.init.constant"
CHECKPOINT = "mlx.core.checkpoint"
BATCH_NORM = "mlx.nn.BatchNorm"


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


class ConstantInitEverywhere(Rule):
    """MLX054: `model.apply(nn.init.constant(c))` with no `filter_fn`: every weight matrix
    becomes c, so the units of a layer stay identical (c = 0: no gradient reaches them)."""

    id = "MLX054"
    anchors = ("constant(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "constant(" in text and ".apply(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        inits = {t.id for t, v in assignments(source.of_type(ast.Assign))
                 if isinstance(t, ast.Name) and self._constant(source, v)}
        for call in source.of_type(ast.Call):
            if (isinstance(call.func, ast.Attribute) and call.func.attr == "apply"
                    and len(call.args) == 1 and _keyword(call, "filter_fn") is None
                    and (self._constant(source, call.args[0]) or isinstance(
                        call.args[0], ast.Name) and call.args[0].id in inits)
                    and not norm_layer(source, call.func.value)):
                yield self.hit(source, call)

    @staticmethod
    def _constant(source: SourceFile, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and source.imports.resolve(node.func) == CONSTANT_INIT


def norm_layer(source: SourceFile, receiver: ast.AST) -> bool:
    """`self.pre_norm` (or a name) bound only to `nn.RMSNorm(...)`, `nn.LayerNorm(...)` and
    other normalisation layers: its parameters are gains and offsets, no weight matrix, and a
    constant is their usual start (fresh241 `quarry_cairn_rmsllama_ok`:
    `self.pre_norm.apply(nn.init.constant(1.0))`, a clean script)."""
    key = dotted(receiver)
    bound = [v for t, v in assignments(source.of_type(ast.Assign)) if key and dotted(t) == key]
    return bool(bound) and all(
        isinstance(v, ast.Call) and (name := source.imports.resolve(v.func) or "").startswith(
            "mlx.nn.") and name.endswith("Norm") for v in bound)


class BatchNormStatsNeverEvaluated(Rule):
    """MLX055: a training loop's (or a step function's) only evaluation of the model is
    `model.trainable_parameters()`, directly or inside the argument (`[v for _, v in
    tree_flatten(self.model.trainable_parameters())] + [loss]`: fresh296
    `weir_sluice_fit_tracker`, the keras MLX trainer before PR #23193, whose `train_step`
    evaluated so and leaked), while the module builds a BatchNorm that tracks running
    statistics: each forward pass updates them lazily and nothing evaluates them."""

    id = "MLX055"
    anchors = ("BatchNorm(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "BatchNorm(" in text and "trainable_parameters()" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not any(self._tracks(source, c) for c in source.of_type(ast.Call)):
            return
        found: set[ast.Call] = set()
        for scope in source.of_type(*LOOPS, *FUNCTIONS):
            evals = [c for c in calls(body_nodes(source, scope))
                     if source.imports.resolve(c.func) in EVAL]
            parts = {ast.unparse(n) for c in evals for a in c.args for n in read_whole(a)}
            for model in trainable_only(parts):
                call = next(c for c in evals if f"{model}.trainable_parameters()" in ast.unparse(c))
                found.add(call)
        for call in sorted(found, key=lambda c: (c.lineno, c.col_offset)):
            yield self.hit(source, call)

    @staticmethod
    def _tracks(source: SourceFile, call: ast.Call) -> bool:
        """`nn.BatchNorm(...)` keeping running statistics (the default)."""
        if source.imports.resolve(call.func) != BATCH_NORM:
            return False
        tracks = _keyword(call, "track_running_stats")
        return not (isinstance(tracks, ast.Constant) and tracks.value is False)


def read_whole(node: ast.AST, reached: bool = False) -> Iterator[ast.AST]:
    """`node` and the expressions inside it that are read as values, not only to reach one
    of their attributes (`model` of `model.trainable_parameters()` is not)."""
    if not reached:
        yield node
    for child in ast.iter_child_nodes(node):
        yield from read_whole(child, isinstance(node, ast.Attribute))


def trainable_only(parts: set[str]) -> set[str]:
    """The models whose `.trainable_parameters()` one scope's evaluations read (as an
    argument or inside one: `tree_flatten(self.model.trainable_parameters())` in a list)
    while none reads the model whole (`.parameters()`, `.state`, the model itself)."""
    suffix = ".trainable_parameters()"
    models = {p[:-len(suffix)] for p in parts if p.endswith(suffix)}
    return {m for m in models if not {f"{m}.parameters()", f"{m}.state", m} & parts}


class CheckpointOverModule(Rule):
    """MLX056: `mx.checkpoint(layer)` where `layer` is a module (a layer bound by name, an
    attribute set to one, a loop variable over a list of them): mx.checkpoint differentiates
    only the arguments it is called with, so the module's parameters are constants inside it
    (`nn.utils.checkpoint` is the module-aware form)."""

    id = "MLX056"
    anchors = (".checkpoint(", "import checkpoint")

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".checkpoint(" in text or "import checkpoint" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if (source.imports.resolve(call.func) == CHECKPOINT and call.args
                    and self._module(source, call.args[0])):
                yield self.hit(source, call)

    def _module(self, source: SourceFile, node: ast.AST) -> bool:
        if isinstance(node, ast.Lambda):
            return self._calls_captured_module(source, node)
        if isinstance(node, ast.Name):
            return node.id in module_instances(source) or node.id in self._layer_loop_names(
                source)
        return isinstance(node, ast.Attribute) and node.attr in layer_attributes(source)

    def _calls_captured_module(self, source: SourceFile, function: ast.Lambda) -> bool:
        """`lambda z, blk=blk: blk(z)`: the lambda calls a module it captures (by closure or
        by a parameter's default) instead of one handed in with the arguments (fresh205
        `klein_flow_lora_ckpt`, flux-2-swift-mlx issue 41: every LoRA gradient 0)."""
        args = function.args
        given = [a.arg for a in (*args.posonlyargs, *args.args)]
        defaults = dict(zip(given[len(given) - len(args.defaults):], args.defaults))
        for call in (n for n in descendants(function.body) if isinstance(n, ast.Call)):
            name = call.func.id if isinstance(call.func, ast.Name) else None
            if name in defaults and self._module(source, defaults[name]):
                return True
            if name is not None and name not in given and self._module(source, call.func):
                return True
        return False

    @staticmethod
    def _layer_loop_names(source: SourceFile) -> set[str]:
        """Loop variables over an attribute bound to a list of layers: `for blk in
        self.blocks`."""
        attributes = layer_attributes(source)
        return {loop.target.id for loop in source.of_type(ast.For)
                if isinstance(loop.target, ast.Name) and isinstance(loop.iter, ast.Attribute)
                and loop.iter.attr in attributes}

