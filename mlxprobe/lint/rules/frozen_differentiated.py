"""MLX110: `mx.value_and_grad(f)` (or `mx.grad`) differentiates a module the program
freezes (`model.freeze()`, `model.backbone.freeze()`, `nn.quantize(model)`): the
transformation differentiates every array leaf of the argument it is handed, frozen or not,
so the freeze does nothing (`optimizer.update(model, grads)` trains the frozen parameters
too), and a quantized layer's packed weights raise `[QuantizedMatmul::vjp] no gradient wrt
the quantized weights` at the first step. `nn.value_and_grad(model, f)` differentiates
`model.trainable_parameters()` only.

Measured (mlx 0.32.4 CPU): a module with `m.a.freeze()` differentiated by
`mx.value_and_grad(f)(m, x)` got gradients for `a.weight` and `a.bias`, and one SGD step
moved the frozen `a.weight` by up to 0.031; `nn.value_and_grad(m, f)` gave only `b`'s.
Failure corpus fresh21 `qlora_grad_all_leaves` (art-mlx's fix commit): a 4-bit quantized,
frozen policy with LoRA adapters crashed at the first step with the error above.

Job: find the arguments a call of a gradient function differentiates
(`grad_targets.differentiated_args`) that are a name (or `self.x`) the module freezes or
quantizes: a `<name>.freeze()` or `<name>.<part>.freeze()` call, or the name handed to
`nn.quantize`; or a name bound to the call of one of the module's functions that freezes
(or quantizes) a name it returns (`def build_model(): m = Net(); m.freeze(); ...; return m`,
then `model = build_model()`: failure corpus fresh183 `orpo_chunk_backward`, mlx-lm-lora
14fa457, whose chunked ORPO step took `mx.grad(local_loss_fn)(model)` and moved the frozen
base by up to 0.458; reloaded onto a clean base its adapters scored val nll/token 2.477
against 0.756 in memory).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

from ..finding import Finding
from ..flow import assignments
from ..names import dotted
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .grad_targets import differentiated_args

QUANTIZE = frozenset({"mlx.nn.quantize", "mlx.nn.layers.quantized.quantize"})


def frozen_roots(source: SourceFile) -> set[str]:
    """The dotted roots (`model`, `self.policy`) of what the module freezes or quantizes,
    and the names bound to a builder that freezes what it returns."""
    return frozen_in(source, source.of_type(ast.Call)) | built_frozen(source)


def frozen_in(source: SourceFile, nodes: Iterable[ast.AST]) -> set[str]:
    """The roots the calls among `nodes` freeze or quantize."""
    roots = set()
    for call in nodes:
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "freeze":
            roots.add(_root(func.value))
        elif source.imports.resolve(func) in QUANTIZE and call.args:
            roots.add(_root(call.args[0]))
    return roots - {""}


def built_frozen(source: SourceFile) -> set[str]:
    """Names bound to a call of a module function that freezes what it returns."""
    builders = set()
    for function in source.of_type(*FUNCTIONS):
        nodes = list(ast.walk(function))
        returned = {n.value.id for n in nodes if isinstance(n, ast.Return)
                    and isinstance(n.value, ast.Name)}
        if returned & frozen_in(source, nodes):
            builders.add(function.name)
    return {t.id for t, v in assignments(source.of_type(ast.Assign)) if isinstance(
        t, ast.Name) and isinstance(v, ast.Call) and isinstance(v.func, ast.Name)
        and v.func.id in builders}


def _root(node: ast.AST) -> str:
    """`model` of `model.backbone.layers`; `self.policy` of `self.policy.net`."""
    parts = dotted(node) or []
    return ".".join(parts[:2] if parts[:1] == ["self"] else parts[:1])


class FrozenDifferentiated(Rule):
    """MLX110: `mx.value_and_grad` over a module the program freezes: the freeze is lost."""

    id = "MLX110"
    anchors = ("grad(",)
    local = False  # the freeze and the gradient call sit in different blocks

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and (".freeze(" in text or "quantize(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        roots = frozen_roots(source)
        if not roots:
            return
        for _, argument in differentiated_args(source):
            if _differentiated_root(argument) in roots:
                yield self.hit(source, argument)


def _differentiated_root(node: ast.AST) -> str:
    """The argument's own dotted name when it is a name or `self.x` (not a call: a
    `model.trainable_parameters()` is what the fix hands over)."""
    parts = dotted(node)
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[0] != "self"):
        return ""
    return ".".join(parts)
