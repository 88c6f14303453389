"""MLX179: state the program carries by hand in a public array attribute of a module the
optimizer also updates. `nn.Module` collects every public `mx.array` attribute as a trainable
parameter, so a recurrent memory or trace kept as `self.states = mx.zeros(...)`, read by the
forward and written back by hand each step (`model.states = mx.stop_gradient(h)`), gets a
gradient and an optimizer step on top of the value the program just assigned: the memory the
model carries is no longer what it computed, while the loss may fall as usual.

Measured (mlx 0.32.4 CPU, failure corpus fresh123 `sluice_trace_online`, from
jrz97619761/test-model-thing#14): a streaming recurrent cell whose hidden state and input
trace were public attributes; the largest gap between the carried memory and the cell's own
output, per 300-step window, was 1.85e-2 at step 300 and still 2.16e-3 at step 3,000, against
exactly 0 with `self.freeze(keys=["states", "trace"], recurse=False)`; the loss fell in both.

Job: in the file's own `nn.Module` classes, a public attribute bound in `__init__` to an
`mlx.core` array call, read in `__call__` other than under `stop_gradient`, and written again
by hand from a value that does not read it (itself or through a name bound to it): in
`__call__` (`self.h = h`), or, in a loop that also hands an instance of the class to an
`update` call, through that instance
(`model.states = ...`, not under an `if`). Not when the file freezes it (MLX154's `frozen`)
or never updates an instance. A private name (`self._states`) is not collected: a fix.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import is_mx_array_call, module_classes
from ..finding import Finding
from ..flow import init_attributes, instances, method_of, self_attr, walk
from ..source import LOOPS, SourceFile
from .base import TRAINS, Rule, trains
from .constant_tables import frozen


def array_attributes(source: SourceFile, cls: ast.ClassDef) -> set[str]:
    """Public attributes `__init__` binds to an `mlx.core` array call."""
    return init_attributes(cls, lambda value: is_mx_array_call(source, value))


def read_with_gradient(source: SourceFile, forward: ast.AST, name: str) -> bool:
    """`self.<name>` is loaded in `forward` outside a `stop_gradient(...)` call."""
    hidden = {id(n) for c in walk(forward.body) if type(c) is ast.Call and (
        source.imports.resolve(c.func) or "").endswith("stop_gradient") for n in ast.walk(c)}
    return any(self_attr(n) == name and type(n.ctx) is ast.Load and id(n) not in hidden
               for n in walk(forward.body))


def reads(source: SourceFile, value: ast.AST, owner: str, name: str) -> bool:
    """`value` reads `<owner>.<name>`, itself or through a name bound to it (`wd =
    model.W_dec; model.W_dec = wd / norm(wd)`: a projection of the parameter, stop 72's
    fresh245 `quarry_ledger_topk`, a correct sparse autoencoder, not a state set by hand)."""
    aliases = {t.id for a in source.of_type(ast.Assign) if is_attribute(a.value, owner, name)
               for t in a.targets if type(t) is ast.Name}
    return any(is_attribute(n, owner, name) or (type(n) is ast.Name and n.id in aliases)
               for n in ast.walk(value))


def is_attribute(node: ast.AST, owner: str, name: str) -> bool:
    """`node` is `<owner>.<name>`."""
    return type(node) is ast.Attribute and node.attr == name and type(
        node.value) is ast.Name and node.value.id == owner


def updated_instances(source: SourceFile, cls: ast.ClassDef) -> set[str]:
    """Names of instances of `cls` the file hands to an `update(...)` call."""
    names = {n for n, c in instances(source).items() if c is cls}
    return {a.id for call in source.of_type(ast.Call) if type(call.func) is ast.Attribute
            and call.func.attr == "update" for a in call.args
            if type(a) is ast.Name and a.id in names}


class StateAttributeTrained(Rule):
    """MLX179: `self.states = mx.zeros(...)` read by the forward, `model.states = h` each step,
    `optimizer.update(model, grads)`."""

    id = "MLX179"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text) and "__call__" in text and "self." in text and ".update(" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            forward, updated = method_of(cls, "__call__"), updated_instances(source, cls)
            if forward is None or not updated:
                continue
            for name in sorted(array_attributes(source, cls)):
                if read_with_gradient(source, forward, name) and not frozen(source, cls, name):
                    yield from self._written(source, forward, updated, name)

    def _written(self, source: SourceFile, forward: ast.AST, updated: set[str],
                 name: str) -> Iterator[Finding]:
        for node in walk(forward.body):
            if type(node) is ast.Assign and any(self_attr(t) == name for t in node.targets) \
                    and not reads(source, node.value, "self", name):
                yield self.hit(source, node)
                return
        for node in source.of_type(ast.Assign):
            owner = next((t.value.id for t in node.targets if type(t) is ast.Attribute
                          and t.attr == name and type(t.value) is ast.Name
                          and t.value.id in updated), None)
            if owner and not reads(source, node.value, owner, name) and self._each_step(
                    source, node, owner):
                yield self.hit(source, node)
                return

    @staticmethod
    def _each_step(source: SourceFile, node: ast.Assign, owner: str) -> bool:
        """`node` runs at every pass of a loop that hands `owner` to an `update` call."""
        loop = source.parents.get(node)
        if not isinstance(loop, LOOPS) or node not in loop.body:
            return False
        return any(type(c) is ast.Call and type(c.func) is ast.Attribute
                   and c.func.attr == "update" and any(
                       type(a) is ast.Name and a.id == owner for a in c.args)
                   for c in walk(loop.body))
