"""MLX029: a model quantized with `nn.quantize` and then trained whole; MLX045: a model
quantized and then given weights with `load_weights(..., strict=False)`.

Job: find, in one function (or the module's top level), `nn.quantize(m, ...)` followed by a
training of the same `m` (`nn.value_and_grad(m, ...)`, `optimizer.update(m, ...)`) where
nothing freezes `m` or gives it adapters (the QLoRA recipe: `m.freeze()`, then LoRA layers).
`QuantizedLinear` freezes its packed weight, scales and biases, and they cannot be unfrozen
(mlx PR #2142): measured in the failure corpus (mlx 0.32.4 CPU), a 3-layer MLP quantized to
4 bits had 320 trainable parameters (its float biases) of 33,088, and the distillation loss
plateaued at 0.28 where training in float first reached 0.03. MLX045: the quantized layers
expect a packed uint32 `weight` with `scales` and `biases`; a float checkpoint loaded after
`nn.quantize` lacks those, strict=False accepts it, and the float weight lands in a
`QuantizedLinear` (the first forward raises, or the model keeps its init).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments, body_nodes, calls, helper_of, names_in, walk
from ..names import NN_GRAD, dotted, last_name
from ..source import SourceFile
from .base import Rule, trains
from .evaluation import is_optimizer_update

QUANTIZE = frozenset({"mlx.nn.quantize", "mlx.nn.layers.quantized.quantize"})
ADAPTER_WORDS = ("lora", "dora", "adapter")


def trained_module(source: SourceFile, call: ast.Call) -> str | None:
    """m of `nn.value_and_grad(m, f)` or `optimizer.update(m, grads)` (a plain name)."""
    given = call.args[0] if call.args else None
    if source.imports.resolve(call.func) in NN_GRAD or is_optimizer_update(source, call):
        return given.id if isinstance(given, ast.Name) else None
    return None


def adapted(source: SourceFile, nodes: list[ast.AST], name: str) -> bool:
    """`name` is frozen (`m.freeze()`) or handed to an adapter builder (`..._lora(m, ...)`)."""
    for call in calls(nodes):
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "freeze" and isinstance(
                func.value, ast.Name) and func.value.id == name:
            return True
        words = (last_name(func) or "").lower()
        if any(w in words for w in ADAPTER_WORDS):
            return True
    return False


class QuantizedThenTrained(Rule):
    """MLX029: `nn.quantize(m)` and later, in the same scope, `m` trained with no freeze and
    no adapters."""

    id = "MLX029"
    anchors = ("quantize(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "quantize(" in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in QUANTIZE or not call.args:
                continue
            model = call.args[0]
            scope = source.enclosing(call)
            nodes = body_nodes(source, scope) if scope else list(walk(source.tree.body))
            if isinstance(model, ast.Name) and self._trained_later(source, nodes, call, model.id):
                yield self.hit(source, call)

    def _trained_later(self, source: SourceFile, nodes: list[ast.AST], quantize: ast.Call,
                       name: str) -> bool:
        until = rebound(nodes, quantize, name)
        later = [c for c in calls(nodes) if quantize.lineno < c.lineno < until]
        return not adapted(source, nodes, name) and any(
            trained_module(source, c) == name or trains_argument(source, c, name)
            for c in later)


def trains_argument(source: SourceFile, call: ast.Call, name: str) -> bool:
    """`train(model, ...)` where the module's own `train` trains the parameter `model` is
    passed to, and neither freezes it nor gives it adapters."""
    helper = helper_of(source, call)
    given = [i for i, a in enumerate(call.args) if isinstance(a, ast.Name) and a.id == name]
    if helper is None or not given or isinstance(helper, ast.Lambda):
        return False
    params = [a.arg for a in helper.args.posonlyargs + helper.args.args]
    if given[0] >= len(params):
        return False
    inner, nodes = params[given[0]], body_nodes(source, helper)
    return not adapted(source, nodes, inner) and any(
        trained_module(source, c) == inner for c in calls(nodes))


def rebound(nodes: list[ast.AST], quantize: ast.Call, name: str) -> float:
    """The first line after `quantize` that binds `name` to a value not made from it
    (`model = build_packed(path)`): from there `name` is another model, whose own quantizing,
    freezing and adapters are in the code that built it (fresh321
    `archive_card_contrastive_resume`, a frozen QLoRA model rebuilt from the packed base)."""
    return min((t.lineno for t, v in assignments(nodes) if isinstance(t, ast.Name)
                and t.id == name and t.lineno > quantize.lineno and name not in names_in(v)),
               default=float("inf"))


def loads_loose(call: ast.Call, name: str) -> bool:
    """`name.load_weights(..., strict=False)`."""
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "load_weights" and isinstance(
        func.value, ast.Name) and func.value.id == name and any(
        k.arg == "strict" and isinstance(k.value, ast.Constant) and k.value.value is False
        for k in call.keywords)


def rooted(target: ast.AST, name: str) -> bool:
    """`name.part = ...` (or deeper): an assignment that puts a part into the model."""
    parts = dotted(target) if isinstance(target, ast.Attribute) else None
    return bool(parts) and len(parts) > 1 and parts[0] == name


class QuantizedThenLoaded(Rule):
    """MLX045: `nn.quantize(m)` and later, in the same scope and before any adapter is
    attached, `m.load_weights(..., strict=False)`."""

    id = "MLX045"
    anchors = ("quantize(",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "quantize(" in text and "strict=False" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in QUANTIZE or not call.args:
                continue
            if not isinstance(call.args[0], ast.Name):
                continue
            scope = source.enclosing(call)
            nodes = body_nodes(source, scope) if scope else list(walk(source.tree.body))
            yield from self._loads(source, nodes, call, call.args[0].id)

    def _loads(self, source: SourceFile, nodes: list[ast.AST], quantize: ast.Call,
               name: str) -> Iterator[Finding]:
        until = rebound(nodes, quantize, name)
        later = sorted((c for c in calls(nodes) if quantize.lineno < c.lineno < until),
                       key=lambda c: c.lineno)
        swapped = min((t.lineno for t, _ in assignments(nodes) if t.lineno > quantize.lineno
                       and rooted(t, name)), default=None)
        for call in later:
            if swapped is not None and call.lineno > swapped:
                return  # `m.mid = LowRank(m.mid)`: a new part, what is loaded may be its own
            if any(w in (last_name(call.func) or "").lower() for w in ADAPTER_WORDS):
                return  # adapters attached: what is loaded from here on may be theirs
            if loads_loose(call, name):
                yield self.hit(source, call)
