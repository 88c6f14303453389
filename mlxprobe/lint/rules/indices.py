"""MLX038 and MLX059: in differentiated code, a gather (MLX038: `mx.take_along_axis`,
`mx.take`) or a scatter-style write (MLX059: `mx.put_along_axis`, `x.at[idx].add(...)`,
`x[idx] = v`) whose indices come from an arg-op (`mx.argsort`, `mx.argpartition`,
`mx.argmax`, `mx.argmin`) over a layer's output, with no `mx.stop_gradient` between: the
backward pass asks for the gradient with respect to the indices, which MLX cannot compute,
and the first step fails.

Job: follow one method's gather or write indices back through its local names to an arg-op,
and that arg-op's input to the module's layers (stop_gradient is a barrier both ways).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import built_parts, helper_of, method_of, self_attr
from ..names import last_name
from ..source import SourceFile
from .base import DIFFERENTIATES, Rule, differentiates
from .differentiation import STOP, differentiated_nodes
from .stopping import Trace

GATHERS = frozenset({"mlx.core.take_along_axis", "mlx.core.take"})
PUT = "mlx.core.put_along_axis"
AT_OPS = frozenset({"add", "subtract", "multiply", "divide", "maximum", "minimum"})
ARG_OPS = frozenset({"mlx.core.argsort", "mlx.core.argpartition", "mlx.core.argmax",
                     "mlx.core.argmin"})


def indices_of(call: ast.Call) -> ast.AST | None:
    """The indices argument of `take_along_axis(a, indices, ...)` / `take(a, indices, ...)`."""
    named = [k.value for k in call.keywords if k.arg == "indices"]
    return call.args[1] if len(call.args) > 1 else (named[0] if named else None)


def arg_ops(source: SourceFile, trace: Trace, node: ast.AST, line: int) -> list[ast.Call]:
    """The arg-op calls `node` is computed from, through local names, not crossing
    stop_gradient."""
    return reached(source, trace, node, line, lambda call, resolved: resolved in ARG_OPS)


def submodule_calls(source: SourceFile, trace: Trace, node: ast.AST,
                    line: int) -> list[ast.Call]:
    """The `self.part(...)` calls `node` is computed from, not crossing stop_gradient."""
    return reached(source, trace, node, line,
                   lambda call, resolved: self_attr(call.func) is not None)


def reached(source: SourceFile, trace: Trace, node: ast.AST, line: int,
            wanted: Callable[[ast.Call, str | None], bool]) -> list[ast.Call]:
    """The calls `wanted` accepts that `node` is computed from, through local names, not
    crossing stop_gradient (nor looking inside an accepted call)."""
    found, todo, seen = [], [(node, line)], set()
    while todo:
        current, at = todo.pop()
        resolved = source.imports.resolve(current.func) if isinstance(
            current, ast.Call) else None
        if resolved in STOP:
            continue
        if isinstance(current, ast.Call) and wanted(current, resolved):
            found.append(current)
            continue
        if isinstance(current, ast.Name) and (current.id, at) not in seen:
            seen.add((current.id, at))
            value = trace.binding(current.id, at)
            todo += [(value, value.lineno)] if value is not None else []
        todo += [(kid, at) for kid in ast.iter_child_nodes(current)]
    return found


class GatherByLearnedIndices(Rule):
    """MLX038: `inds = mx.argsort(-scores)[:, :k]; mx.take_along_axis(x, inds, -1)` with
    `scores` from `self.router(x)`, in a module that takes gradients: the VJP of a gather
    with respect to its indices is not implemented (top-k routing must stop_gradient them)."""

    id = "MLX038"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return differentiates(text) and "arg" in text and "take" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.Call] = set()
        for node in differentiated_nodes(source):
            if isinstance(node, ast.Call) and source.imports.resolve(node.func) in GATHERS:
                for op in self._learned(source, node):
                    if op not in reported:
                        reported.add(op)
                        yield self.hit(source, op)

    def _learned(self, source: SourceFile, gather: ast.Call) -> list[ast.Call]:
        return learned(source, gather, indices_of(gather))


def learned(source: SourceFile, node: ast.AST, indices: ast.AST | None) -> list[ast.Call]:
    """The arg-ops over a layer's output (not stopped) that `indices`, read at `node`, is
    computed from, unless those layers stay frozen (`frozen_away`)."""
    function = source.enclosing(node)
    if function is None or indices is None:
        return []
    trace = Trace(source, function)
    return [op for op in arg_ops(source, trace, indices, node.lineno) if op.args
            and (layers := trace.layers(op.args[0], op.lineno, barrier=True)
                 or callers_layers(source, function, op.args[0]))
            and not frozen_away(source, layers)] + [
        op for call in submodule_calls(source, trace, indices, node.lineno)
        for op in returned(source, function, call)]


def returned(source: SourceFile, function: ast.AST, call: ast.Call) -> list[ast.Call]:
    """The learned arg-ops the `__call__` of the module's own class behind `self.part`
    returns, when `function`'s class builds `self.part = Part(...)` (fresh222
    `sparse_indexer_curriculum`, mlx-lm PR 1452: an indexer submodule returning
    `mx.argpartition(scores, ...)` whose result a sparse-attention layer scattered with
    `mx.put_along_axis`); one level deep."""
    cls = source.enclosing(function, (ast.ClassDef,))
    part = built_as(source, cls, self_attr(call.func)) if cls is not None else None
    forward = method_of(part, "__call__") if part is not None else None
    if forward is None or forward is function:
        return []
    trace = Trace(source, forward)
    return [op for ret in ast.walk(forward) if isinstance(ret, ast.Return) and ret.value
            for op in arg_ops(source, trace, ret.value, ret.lineno) if op.args
            and (layers := trace.layers(op.args[0], op.lineno, barrier=True))
            and not frozen_away(source, layers)]


def built_as(source: SourceFile, cls: ast.ClassDef, attr: str | None) -> ast.ClassDef | None:
    """The module's own class that `cls.__init__` builds `self.attr` from, or None."""
    init = method_of(cls, "__init__")
    classes = {c.name: c for c in source.of_type(ast.ClassDef)}
    for name, call in built_parts(init) if init is not None else ():
        if name == attr and isinstance(call.func, ast.Name):
            return classes.get(call.func.id)
    return None


def callers_layers(source: SourceFile, function: ast.AST, node: ast.AST) -> set[ast.Call]:
    """When `node` is a parameter of a plain helper (`def mlx_topk(a, k)`), the layers the
    module's calls of it pass in that place (`mlx_topk(self.router(x), 2)`, or a local
    bound to it: fresh52 `gptoss_topk_indices_grad`, mlx-lm issue 1814), one call deep;
    also calls through a function the class stores (`self.sparsify(...)`, `flow.helper_of`:
    lintheld3 `b3_wta_sparse_mask`)."""
    names = [a.arg for a in getattr(getattr(function, "args", None), "args", [])]
    while isinstance(node, ast.UnaryOp):  # `mx.argpartition(-h, ...)`: the top-k of h
        node = node.operand
    if not isinstance(node, ast.Name) or node.id not in names or not hasattr(function, "name"):
        return set()
    at = names.index(node.id)
    found: set[ast.Call] = set()
    for call in source.of_type(ast.Call):
        if not (isinstance(call.func, ast.Name) and call.func.id == function.name
                or self_attr(call.func) and helper_of(source, call) is function):
            continue
        given = call.args[at] if at < len(call.args) else next(
            (k.value for k in call.keywords if k.arg == node.id), None)
        caller = source.enclosing(call)
        if given is not None and caller is not None:
            found |= Trace(source, caller).layers(given, call.lineno, barrier=True)
    return found


def frozen_away(source: SourceFile, layers: set[ast.Call]) -> bool:
    """The program freezes a whole model (`model.freeze()`, no keys, on a plain name: a
    dotted receiver, `model.attn.indexer.freeze()`, freezes a part while the layers before
    it train, fresh222 `sparse_indexer_curriculum`), unfreezes nothing, and
    every LoRA wrap it makes is an attribute assignment (`e.gate_proj =
    LoRALinear.from_linear(e.w1)`) of a name other than the layers that feed the scores: no
    gradient reaches the scores, so none is asked of the indices (failure corpus fresh29
    `moe_expert_lora_names_ok`: adapters on the experts only, the router frozen, it trains).
    A wrap the module cannot see (`linear_to_lora_layers(model, ...)`) may reach them."""
    calls = source.of_type(ast.Call)
    if not any(last_name(c.func) == "freeze" and not c.args and not c.keywords
               and isinstance(c.func, ast.Attribute) and isinstance(c.func.value, ast.Name)
               for c in calls) or any(last_name(c.func) == "unfreeze" for c in calls):
        return False
    names = {self_attr(layer.func) for layer in layers}
    wrapped = {id(a.value): a.targets[0] for a in source.of_type(ast.Assign)
               if len(a.targets) == 1 and isinstance(a.targets[0], ast.Attribute)}
    return all(id(c) in wrapped and wrapped[id(c)].attr not in names
               for c in calls if "lora" in ast.unparse(c.func).lower())



def write_indices(source: SourceFile, node: ast.AST) -> ast.AST | None:
    """The indices of a scatter-style write: `mx.put_along_axis(a, indices, v)`,
    `a.at[indices].add(v)` (and the other `.at` updates), `a[indices] = v`, `a[indices] += v`."""
    if isinstance(node, ast.Call):
        func = node.func
        if (isinstance(func, ast.Attribute) and func.attr in AT_OPS
                and isinstance(func.value, ast.Subscript)
                and isinstance(func.value.value, ast.Attribute) and func.value.value.attr == "at"):
            return func.value.slice
        return indices_of(node) if source.imports.resolve(func) == PUT else None
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
        node, ast.AugAssign) else []
    return next((t.slice for t in targets if isinstance(t, ast.Subscript)), None)


class ScatterByLearnedIndices(Rule):
    """MLX059: `mx.put_along_axis(scores, idx, 0.0, axis=-1)`, `out.at[idx].add(v)` or
    `out[idx] = v` with `idx` an arg-op of a layer's output (`mx.argpartition(self.gate(x))`),
    in a module that takes gradients: the VJP of a scatter with respect to its indices is not
    implemented, so the first backward pass fails."""

    id = "MLX059"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return differentiates(text) and "arg" in text and (
            "put_along_axis(" in text or ".at[" in text or "] = " in text or "] += " in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        reported: set[ast.Call] = set()
        for node in differentiated_nodes(source):
            indices = write_indices(source, node) if isinstance(
                node, (ast.Call, ast.Assign, ast.AugAssign)) else None
            for op in learned(source, node, indices) if indices is not None else []:
                if op not in reported:
                    reported.add(op)
                    yield self.hit(source, op)
