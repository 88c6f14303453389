"""MLX096: `model.freeze()` after LoRA adapters were attached, with no unfreeze of them after.
MLX097: `model.freeze()`, then the same model trained with nothing unfrozen in the file.

Job: in one function (or the module's top-level code), find an adapter attached (a call of a
class or function whose name holds `lora`: `LoRALinear(model.fc1)`,
`linear_to_lora_layers(model, ...)`) and, on a later line, a `freeze()` of everything (no
`keys=`), with no later `unfreeze(keys=...)` naming the adapters nor an unfreeze of a part
of one by its path. `freeze()` freezes every parameter the model holds at that moment, the
new adapters too: nothing of them trains
(mlx-vlm issue 2178 and PR 2181, google-research/tabfm PR 51: freeze first, then attach).
Measured (mlx 0.32.4 CPU, failure corpus fresh12 `a12_lora_wrap_then_freeze`: 0 trainable
parameters, `ValueError: [grad] Must specify at least one argument`; fresh13
`b13_lora_freeze_after_attach`: only the re-unfrozen head trained, 49 of 3649 values, the
loss fell 6% where the fixed order's fell 88%). The freeze may sit in a helper of the module
that freezes its argument whole (`def freeze_base(model): model.freeze()`), called on a
model whose adapters (a class or function named for LoRA or an adapter) were attached on an
earlier line or in its own argument, in a file with no `unfreeze` (fresh25
`freeze_base_locks_adapters`, fresh32 `policy_adapter_freeze`: 'trainable 0 / 4110', then
`ValueError: [grad] Must specify at least one argument`).

MLX097: a `freeze()` of everything, then `nn.value_and_grad(model, ...)` or
`optimizer.update(model, ...)` of that model later in the same function, where the file
holds no `unfreeze` at all, no adapter is attached, no attribute of the model is set after
the freeze (a new head) and no call is handed the model in between (a helper that may
unfreeze): nothing is trainable (mlx-examples issue 209: the LoRA example freezes the model
after loading; the layers to tune must be unfrozen after it). Measured (mlx 0.32.4 CPU,
fresh13 `a13_frozen_after_load_embed`): 'trainable params 0 / 21680', then `ValueError:
[grad] Must specify at least one argument` at the first step.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import helper_of, scope_nodes
from ..names import NN_GRAD, dotted
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule
from .evaluation import is_optimizer_update
from .freezing import keys_given

# what a function that attaches adapters is called beside `lora` (`linear_to_lora_layers`,
# `apply_lora`); a helper that only reads (`_resolve_lora_targets`) is none of these
ATTACH_VERBS = ("to_lora", "apply", "add", "attach", "wrap", "inject", "convert", "lora_layers")


def attaches(call: ast.Call) -> bool:
    """A LoRA class built (`LoRALinear(...)`, `LoRALinear.from_base(layer)`) or a function
    that attaches adapters called."""
    parts = dotted(call.func) or []
    last = parts[-1] if parts else ""
    if any(_adapter_word(p) and p[:1].isupper() for p in parts[:-1]):
        return True  # a LoRA class's own constructor
    if not _adapter_word(last) or last.startswith("_"):
        return False
    return last[:1].isupper() or any(v in last.lower() for v in ATTACH_VERBS)


def _adapter_word(name: str) -> bool:
    """`LoRALinear`, `apply_lora`, `AdapterLinear` (fresh32 policy_adapter_freeze)."""
    low = name.lower()
    return "lora" in low or "adapter" in low


def receiver(call: ast.Call) -> str | None:
    """`model` of `model.freeze()`, `self.model.freeze()` as `self`."""
    parts = dotted(call.func) or []
    return parts[0] if len(parts) >= 2 else None


def covers(source: SourceFile, freeze: ast.Call, attach: ast.Call) -> bool:
    """Whether the frozen object holds what `attach` made: always, unless the adapter is
    bound to a path (`model.proj = LoRALinear(model.proj)`) that the frozen one does not
    lead to (`model.proj.base.freeze()` freezes the wrapped layer inside it, not the
    adapter: lora_stub_step_ok of the failure corpus fresh20)."""
    bound = source.parents.get(attach)
    if not (isinstance(bound, ast.Assign) and len(bound.targets) == 1):
        return True
    target, frozen = dotted(bound.targets[0]), (dotted(freeze.func) or [])[:-1]
    return target is None or target[:len(frozen)] == frozen


def names(node: ast.AST) -> set[str]:
    return {n.id for n in descendants(node) if isinstance(n, ast.Name)}


def freezes(call: ast.Call, method: str) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr == method


def frees_adapters(call: ast.Call) -> bool:
    """`unfreeze(keys=["lora_a", "lora_b"])` (or any key naming an adapter)."""
    return freezes(call, "unfreeze") and any(
        "lora" in str(k.value).lower() or "adapter" in str(k.value).lower()
        for k in keys_given(call))


def adapter_paths(source: SourceFile, found: list[ast.Call]) -> list[list[str]]:
    """The paths adapters were bound to in a scope (`model.l1 = TwinLoRALinear(model.l1)`)."""
    bound = [source.parents.get(c) for c in found if attaches(c)]
    return [path for b in bound if isinstance(b, ast.Assign) and len(b.targets) == 1
            and (path := dotted(b.targets[0])) is not None]


def unfreezes_inside(source: SourceFile, call: ast.Call, held: list[list[str]]) -> bool:
    """`m.marsh.unfreeze()` where `m` runs over `(model.l1, model.out)` and those paths hold
    adapters: a part of an adapter unfrozen by path, what keys= would do (fresh239
    `saltmarsh_ferry_twin_adapters`: two adapters per layer, each stage unfreezing one)."""
    path = (dotted(call.func) or [])[:-1]
    if not freezes(call, "unfreeze") or not path:
        return False
    return any(whole[:len(h)] == h for whole in _expanded(source, call, path) for h in held)


def _expanded(source: SourceFile, call: ast.Call, path: list[str]) -> list[list[str]]:
    """The path with its first name replaced by each path that an enclosing `for` over a
    literal tuple or list of paths gives it (`for m in (model.l1, model.l2)`), else itself."""
    node = source.parents.get(call)
    while node is not None and not (isinstance(node, ast.For) and isinstance(
            node.target, ast.Name) and node.target.id == path[0]):
        node = source.parents.get(node)
    if node is None or not isinstance(node.iter, (ast.Tuple, ast.List)):
        return [path]
    return [whole + path[1:] for e in node.iter.elts if (whole := dotted(e)) is not None]


def scopes(source: SourceFile) -> Iterator[tuple[list[ast.Call], list[ast.AST]]]:
    """(the calls, the nodes) of each function and of the module's top-level code."""
    for scope in [source.tree, *source.of_type(*FUNCTIONS)]:
        nodes = scope_nodes(source, scope)
        yield [n for n in nodes if isinstance(n, ast.Call)], nodes


def freezes_all(call: ast.Call) -> bool:
    """`x.freeze()`: everything, no keys."""
    return freezes(call, "freeze") and not call.keywords and not call.args


def full_freezes(source: SourceFile) -> Iterator[tuple[ast.Call, list[ast.Call], list[ast.AST]]]:
    """(a `x.freeze()` of everything, the calls of its scope, the scope's nodes), per
    function and for the module's top-level code."""
    for found, nodes in scopes(source):
        for call in found:
            if freezes_all(call):
                yield call, found, nodes


def attached_earlier(name: str | None, line: int, found: list[ast.Call], nodes: list[ast.AST],
                     kept: Callable[[ast.Call], bool] = lambda _: True) -> bool:
    """An adapter (one `kept` accepts) attached to `name` on a line before `line`, the name
    not bound again between the last such line and `line` (a second session's fresh
    model)."""
    attached = [c.lineno for c in found if attaches(c) and c.lineno < line
                and name in names(c) and kept(c)]
    if name is None or not attached:
        return False
    rebound = [n.lineno for n in nodes if isinstance(n, ast.Name) and n.id == name
               and isinstance(n.ctx, ast.Store)]
    return not any(max(attached) < at < line for at in rebound)


class FreezeAfterAdapters(Rule):
    """MLX096: adapters attached, then `model.freeze()` freezes them too."""

    id = "MLX096"
    anchors = ("freeze(",)
    local = False  # a helper that freezes its argument is read beside the code calling it

    @staticmethod
    def may_fire(text: str) -> bool:
        return "freeze(" in text and ("lora" in text or "LoRA" in text or "Lora" in text
                                      or "Adapter" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call, found, nodes in full_freezes(source):
            held = adapter_paths(source, found)
            if self._after_attach(source, call, found, nodes) and not any(
                    (frees_adapters(c) or unfreezes_inside(source, c, held))
                    and c.lineno > call.lineno for c in found):
                yield self.hit(source, call)
        yield from self._helper_freezes(source)

    def _helper_freezes(self, source: SourceFile) -> Iterator[Finding]:
        """A call of the module's own helper that freezes its argument whole
        (`def freeze_base(model): model.freeze()`), handed a model its adapters were
        attached to: `freeze_base(apply_lora(model))` (fresh25 freeze_base_locks_adapters)
        or `policy.fc1 = AdapterLinear(...)` lines before `freeze_base(policy)` (fresh32
        policy_adapter_freeze)."""
        if any(freezes(c, "unfreeze") for c in source.of_type(ast.Call)):
            return
        for found, nodes in scopes(source):
            for call in found:
                if _freezes_argument(source, call) and _attached_before(call, found, nodes):
                    yield self.hit(source, call)

    @staticmethod
    def _after_attach(source: SourceFile, call: ast.Call, found: list[ast.Call],
                      nodes: list[ast.AST]) -> bool:
        """An adapter attached to the frozen object's name on an earlier line, where the
        frozen object holds it (`covers`)."""
        return attached_earlier(receiver(call), call.lineno, found, nodes,
                                lambda c: covers(source, call, c))


def _freezes_argument(source: SourceFile, call: ast.Call) -> bool:
    """`call` runs a same-module function whose body freezes its first parameter whole."""
    helper = helper_of(source, call)
    args = helper.args.args if isinstance(helper, FUNCTIONS) else []
    first = args[0].arg if args else None
    return bool(call.args) and first is not None and any(
        isinstance(n, ast.Call) and freezes_all(n) and receiver(n) == first
        for n in descendants(helper))


def _attached_before(call: ast.Call, found: list[ast.Call], nodes: list[ast.AST]) -> bool:
    """The call's first argument is an attaching call, or a name adapters were attached
    to on an earlier line and not bound again since."""
    given = call.args[0]
    if isinstance(given, ast.Call):
        return attaches(given)
    return isinstance(given, ast.Name) and attached_earlier(given.id, call.lineno, found, nodes)


class FrozenThenTrained(Rule):
    """MLX097: `model.freeze()`, then the model trained with nothing unfrozen."""

    id = "MLX097"
    anchors = ("freeze(",)
    local = True  # reads one function, or the module's top-level code

    @staticmethod
    def may_fire(text: str) -> bool:
        return ".freeze()" in text and "unfreeze" not in text and (
            "grad(" in text or ".update(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call, _, nodes in full_freezes(source):
            name = receiver(call)
            if name and len(dotted(call.func) or []) == 2 and self._trained_frozen(
                    source, name, call.lineno, nodes):
                yield self.hit(source, call)

    @staticmethod
    def _trained_frozen(source: SourceFile, name: str, line: int,
                        nodes: list[ast.AST]) -> bool:
        """`name` trained after `line`, with nothing between that may make part of it
        trainable again."""
        if any(isinstance(n, ast.Call) and attaches(n) and name in names(n)
               and n.lineno < line for n in nodes):
            return False  # adapters attached before the freeze: MLX096 says it
        later = [n for n in nodes if getattr(n, "lineno", 0) > line]
        trained = [n.lineno for n in later if isinstance(n, ast.Call) and _trains(source, n, name)]
        if not trained:
            return False
        first = min(trained)
        return not any(_frees(n, name) for n in later if getattr(n, "lineno", 0) < first)


def _trains(source: SourceFile, call: ast.Call, name: str) -> bool:
    """`nn.value_and_grad(name, ...)` or `optimizer.update(name, ...)`."""
    given = call.args[0] if call.args else None
    if not (isinstance(given, ast.Name) and given.id == name):
        return False
    return source.imports.resolve(call.func) in NN_GRAD or is_optimizer_update(source, call)


def _frees(node: ast.AST, name: str) -> bool:
    """Something that may make part of `name` trainable: an attribute set on it (a new
    head), an adapter attached, a call handed it."""
    if isinstance(node, (ast.Assign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any((dotted(t) or [""])[0] == name and isinstance(t, ast.Attribute)
                   for t in targets)
    if isinstance(node, ast.Call):
        return attaches(node) or any(isinstance(a, ast.Name) and a.id == name
                                     for a in [*node.args, *(k.value for k in node.keywords)])
    return False
