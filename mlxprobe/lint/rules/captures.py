"""MLX113: a function compiled without `inputs=`/`outputs=` reads a model whose parameters the
program updates outside it (`optimizer.update(model, grads)`, `model.update(...)`). The
compiled graph keeps the arrays it captured when it was traced, so every later call computes
with the first parameters: a compiled loss-and-gradient returns the same loss and the same
gradients at every step, a compiled evaluation the same predictions.

Measured (mlx 0.32.4 CPU): `@mx.compile def step(x, y): return vg(model, x, y)` with
`opt.update(model, g)` after each call gave loss 0.13456 at four steps in a row while the
uncompiled `model(x)` moved -1.10 -> -2.57 -> -4.04 -> -5.50 (the same gradient applied each
time); a compiled `predict(x)` over the same model gave -1.10 every time. Failure corpus
fresh11 and fresh15 `compiled_grad_captures_weights` (ml-explore/mlx-swift-lm#586, #589; the
fix, as MLX's compile docs give it: `partial(mx.compile, inputs=model.state,
outputs=model.state)`).

Job: find such compiled functions; one that updates the model itself is MLX023's. A function
compiled inside a factory that a loop calls after its updates (each round trains, then builds
its planner anew and uses it, with no update after that call in the round) is traced afresh
each round with the round's parameters: fresh351 `rindcellar_pets_cem`, correct, a
model-based RL loop whose `make_planner(model)` compiles its imagined rollouts.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import arguments, assignments, calls, reach
from ..names import dotted, last_name
from ..source import LOOPS, SourceFile
from .base import Rule
from .evaluation import is_optimizer_update, updated_model
from .state import model_update
from .tracing import mx_compiles
from .transforms import uncaptured_compiles

GRADS = frozenset({"mlx.nn.value_and_grad"})


def name_of(node: ast.AST) -> str | None:
    """`model` or `self.model` (a name or an attribute of one), else None."""
    parts = dotted(node)
    return ".".join(parts) if parts else None


def updated_models(source: SourceFile) -> set[str]:
    """What the program updates the parameters of: `opt.update(M, g)`, `M.update(tree)`."""
    found: set[str] = set()
    for call in source.of_type(ast.Call):
        if is_optimizer_update(source, call):
            model = updated_model(call)
        elif model_update(call):
            model = call.func.value  # type: ignore[attr-defined]
        else:
            continue
        found.add(name_of(model) or "")
    return found - {""}


def model_readers(source: SourceFile, models: set[str]) -> set[str]:
    """The models, and the names bound to `nn.value_and_grad(M, f)` of one of them."""
    found = set(models)
    for target, value in assignments(source.of_type(ast.Assign)):
        if isinstance(value, ast.Call) and value.args and source.imports.resolve(
                value.func) in GRADS and name_of(value.args[0]) in models:
            found.add(name_of(target) or "")
    return found - {""}


def rebuilt_after_updates(source: SourceFile, function: ast.AST) -> bool:
    """The compiled function is defined inside a factory that is only called in loops, each
    call after the loop body's last update of a model (`planner = make_planner(model)` after
    the round's training): every round compiles and traces it anew with that round's
    parameters."""
    factory = source.enclosing(function)
    name = getattr(factory, "name", None)
    sites = [c for c in source.of_type(ast.Call) if name and last_name(c.func) == name]
    return bool(sites) and all(_after_updates(source, site) for site in sites)


def _after_updates(source: SourceFile, site: ast.AST) -> bool:
    """No statement of the loop around `site`, from the one holding it on, updates a model."""
    loop = source.enclosing(site, LOOPS)
    statement = site
    while loop is not None and source.parents.get(statement) is not loop:
        statement = source.parents[statement]
    if loop is None or statement not in loop.body:  # type: ignore[attr-defined]
        return False
    later = loop.body[loop.body.index(statement):]  # type: ignore[attr-defined]
    return not any(is_optimizer_update(source, c) or model_update(c)
                   for c in calls(reach(source, later)))


def reads(nodes: list[ast.AST], names: set[str]) -> bool:
    """A node among `nodes` reads one of `names` (`model`, `self.model`, `loss_and_grad`)."""
    return any(type(n) in (ast.Name, ast.Attribute) and name_of(n) in names for n in nodes)


class CompiledReadsStaleModel(Rule):
    """MLX113: a function compiled without `inputs=` reads a model the program updates
    outside it: it computes with the parameters captured at its first call."""

    id = "MLX113"
    anchors = ("compile",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "compile" in text and ".update(" in text and mx_compiles(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        models = updated_models(source)
        if not models:
            return
        readers = model_readers(source, models)
        reported: set[ast.AST] = set()
        for function, where in uncaptured_compiles(source):
            nodes = reach(source, function.body)
            if function in reported or any(
                    is_optimizer_update(source, c) or model_update(c) for c in calls(nodes)):
                continue  # an update inside is MLX023's
            if reads(nodes, readers - arguments(function)) and not rebuilt_after_updates(
                    source, function):
                reported.add(function)
                yield self.hit(source, where)
