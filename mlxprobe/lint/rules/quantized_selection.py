"""MLX159: a model quantized with `nn.quantize`, then its layers selected by
`isinstance(module, nn.Linear)`: `nn.QuantizedLinear` derives from `nn.Module`, not from
`nn.Linear`, so the test selects none of the quantized layers (no adapter attaches, nothing
is replaced, and the run trains only what is left: biases and norms).

Measured (mlx 0.32.4 CPU, failure corpus fresh54 `quant_adapter_skip`, SiLLM commit
6a87b41): an MLP quantized to 4 bits and given LoRA adapters by
`isinstance(module, nn.Linear)` logged "No target modules found for LoRA", trained its 520
bias and norm parameters and reached val acc 0.344; testing `nn.QuantizedLinear` too
attached 3 adapters and reached 0.865.

Job: in a function (or the module's top level) that calls `nn.quantize(m, ...)`, or binds
`m = load()` where the module's own `load` quantizes a model and returns it, a later
`isinstance(x, nn.Linear)` (the class alone, or a tuple without `QuantizedLinear`), either
in that scope or in the module's own helper it then calls with `m`; an expression that also
tests `QuantizedLinear` (`isinstance(x, nn.Linear) or isinstance(x, nn.QuantizedLinear)`)
is left alone. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import returns_of
from ..finding import Finding
from ..flow import body_nodes, calls, helper_of, walk
from ..source import FUNCTIONS, SourceFile
from .base import Rule
from .quantization import QUANTIZE

LINEAR = frozenset({"mlx.nn.Linear", "mlx.nn.layers.linear.Linear"})


def linear_tests(source: SourceFile, nodes: list[ast.AST]) -> Iterator[ast.Call]:
    """`isinstance(x, nn.Linear)` calls among `nodes` whose expression tests no
    `QuantizedLinear`."""
    for call in calls(nodes):
        if not (isinstance(call.func, ast.Name) and call.func.id == "isinstance"
                and len(call.args) == 2):
            continue
        kinds = call.args[1].elts if isinstance(call.args[1], ast.Tuple) else [call.args[1]]
        names = {source.imports.resolve(k) or "" for k in kinds}
        if names & LINEAR and not quantized_tested(source, call):
            yield call


def quantized_tested(source: SourceFile, call: ast.Call) -> bool:
    """The statement around the test names `QuantizedLinear` anywhere."""
    statement = source.parents.get(call)
    while statement is not None and not isinstance(statement, ast.stmt):
        statement = source.parents.get(statement)
    text = ast.unparse(statement if statement is not None else call)
    return "QuantizedLinear" in text


def quantized_name(source: SourceFile, call: ast.Call) -> str | None:
    """The name that holds a quantized model after `call`: `m` of `nn.quantize(m, ...)`, or
    `m` of `m = load_model()` where the module's own `load_model` quantizes a model and
    returns it (fresh295 `quayside_lantern_retrieval`, from mlx-embed-finetune: a loader
    built and quantized the encoder, and the LoRA helper called on its result tested
    `isinstance(layer, nn.Linear)`)."""
    if source.imports.resolve(call.func) in QUANTIZE:
        first = call.args[0] if call.args else None
        return first.id if isinstance(first, ast.Name) else None
    parent = source.parents.get(call)
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1
            and isinstance(parent.targets[0], ast.Name)):
        return None
    helper = helper_of(source, call)
    return parent.targets[0].id if quantizes_returned(source, helper) else None


def quantizes_returned(source: SourceFile, helper: ast.AST | None) -> bool:
    """A def of the module that calls `nn.quantize(m, ...)` and returns `m`."""
    if not isinstance(helper, FUNCTIONS):
        return False
    returned = {r.id for r in returns_of(helper) if isinstance(r, ast.Name)}
    return any(source.imports.resolve(c.func) in QUANTIZE and c.args
               and isinstance(c.args[0], ast.Name) and c.args[0].id in returned
               for c in calls(body_nodes(source, helper)))


class LinearTestAfterQuantize(Rule):
    """MLX159: `isinstance(m, nn.Linear)` selecting layers of a model `nn.quantize` made
    quantized."""

    id = "MLX159"
    anchors = ("quantize(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """`nn.quantize(` (or `quantize(` imported from `mlx.nn`) and an isinstance test of
        a Linear: 36 files of the three packages hold `quantize(` with both, 6 of them
        `nn.quantize(` (the others' `mx.quantize(`, `quantize(weights, ...)` are parsed
        whole for nothing otherwise)."""
        return ("nn.quantize(" in text or ("quantize(" in text and "from mlx.nn import" in text)) \
            and "isinstance(" in text and "Linear" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            name = quantized_name(source, call)
            if name is None:
                continue
            scope = source.enclosing(call)
            nodes = body_nodes(source, scope) if scope else list(walk(source.tree.body))
            for test in self._tests_after(source, nodes, call, name):
                yield self.hit(source, test)

    @staticmethod
    def _tests_after(source: SourceFile, nodes: list[ast.AST], quantize: ast.Call,
                     name: str) -> Iterator[ast.Call]:
        later = [n for n in nodes if getattr(n, "lineno", 0) > quantize.end_lineno]
        yield from linear_tests(source, later)
        for call in calls(later):
            helper = helper_of(source, call)
            given = any(isinstance(a, ast.Name) and a.id == name for a in call.args)
            if helper is not None and given and not isinstance(helper, ast.Lambda):
                yield from linear_tests(source, body_nodes(source, helper))
