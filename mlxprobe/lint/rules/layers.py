"""Rules about model definitions: MLX009 (a channels-last tensor swapped to channels-first
before an nn.Conv1d) and MLX013 (a hand-written ModuleList, or a plain class that builds
layers, MLX cannot see into).

Job: read a module class's layers (`self.x = nn.Conv1d(...)` in its methods) and how its
methods feed them.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import layer_call, module_classes
from ..finding import Finding
from ..flow import assignments, body_assignments, body_nodes
from ..names import dotted, last_name
from ..partial import DEFINES, WORD, blocks
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

CONV1D = frozenset({"mlx.nn.Conv1d"})
CHANNELS_LAST = frozenset(f"mlx.nn.{n}" for n in ("Linear", "Embedding", "LayerNorm",
                                                  "RMSNorm", "QuantizedLinear",
                                                  "QuantizedEmbedding", "MultiHeadAttention"))
SWAPS = ({1, 2}, {-1, -2})
# `class Name:` / `class Name(object):` (a superset: the rule checks the bases in the tree)
PLAIN_CLASS = re.compile(r"class (\w+)[ \t]*(?:\([ \t]*(?:object)?[ \t]*\))?[ \t]*:")
CONTAINERS = frozenset({"ModuleList", "ModuleDict", "ParameterList", "ParameterDict"})
SEQUENTIAL = "mlx.nn.Sequential"


def layers(source: SourceFile, cls: ast.ClassDef, kinds: frozenset[str]) -> set[str]:
    """Attribute names `self.<name> = <one of kinds>(...)` in the class's methods."""
    found = set()
    for method in (n for n in cls.body if isinstance(n, FUNCTIONS)):
        for target, value in body_assignments(source, method):
            parts = dotted(target)
            if parts and len(parts) == 2 and parts[0] == "self" and isinstance(value, ast.Call):
                if source.imports.resolve(value.func) in kinds:
                    found.add(parts[1])
    return found


def ints(nodes: list[ast.AST]) -> list[int] | None:
    out = []
    for node in nodes:
        value = ast.literal_eval(node) if isinstance(node, (ast.Constant, ast.UnaryOp)) else None
        if not isinstance(value, int):
            return None
        out.append(value)
    return out


def swapped(source: SourceFile, node: ast.AST) -> ast.AST | None:
    """E for `E.swapaxes(1, 2)`, `mx.swapaxes(E, 1, 2)`, `E.transpose(0, 2, 1)`, ..."""
    if not isinstance(node, ast.Call):
        return None
    name, args = last_name(node.func), list(node.args)
    method = isinstance(node.func, ast.Attribute) and source.imports.resolve(node.func) is None
    subject = node.func.value if method else (args.pop(0) if args else None)
    if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)):
        args = args[0].elts
    axes = ints(args)
    if subject is None or axes is None:
        return None
    if name == "swapaxes" and set(axes) in SWAPS:
        return subject
    return subject if name == "transpose" and axes == [0, 2, 1] else None


class Conv1dChannelsFirst(Rule):
    """MLX009: `self.conv(x.swapaxes(1, 2))` where x comes from a channels-last layer."""

    id = "MLX009"
    anchors = ("Conv1d",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "Conv1d" in text and ("swapaxes" in text or "transpose" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in source.of_type(ast.ClassDef):
            convs = layers(source, cls, CONV1D)
            if not convs:
                continue
            last = layers(source, cls, CHANNELS_LAST)
            for method in (n for n in cls.body if isinstance(n, FUNCTIONS)):
                yield from self._method(source, method, convs, last)

    def _method(self, source: SourceFile, method: ast.AST, convs: set[str],
                last: set[str]) -> Iterator[Finding]:
        values = list(body_assignments(source, method))
        for call in (n for n in body_nodes(source, method) if isinstance(n, ast.Call)):
            parts = dotted(call.func)
            if not (parts and parts[:1] == ["self"] and parts[-1] in convs and call.args):
                continue
            fed = self._before(call.args[0], values, call.lineno)
            subject = swapped(source, fed)
            if subject is not None and self._channels_last(subject, values, last, fed.lineno):
                yield self.hit(source, call)

    def _before(self, node: ast.AST, values: list, line: int) -> ast.AST:
        """A name's latest assignment before `line` (the node itself if not a name)."""
        if not isinstance(node, ast.Name):
            return node
        earlier = [(t.lineno, v) for t, v in values
                   if isinstance(t, ast.Name) and t.id == node.id and t.lineno < line]
        return max(earlier, key=lambda e: e[0])[1] if earlier else node

    def _channels_last(self, node: ast.AST, values: list, last: set[str], line: int) -> bool:
        produced = self._before(node, values, line)
        parts = dotted(produced.func) if isinstance(produced, ast.Call) else None
        return bool(parts and parts[:1] == ["self"] and parts[-1] in last)


def plain_classes(source: SourceFile) -> set[str]:
    """The module's classes that derive from nothing MLX looks inside (no base, `object`)."""
    return {c.name for c in source.of_type(ast.ClassDef)
            if {last_name(b) for b in c.bases} <= {"object"}}


def holds_modules(source: SourceFile, call: ast.Call, modules: set[str]) -> bool:
    """The call is given layers (directly, in a list or a comprehension): `mlx.nn` ones or
    instances of the module's own nn.Module classes (`modules`)."""
    return any(isinstance(n, ast.Call) and layer_call(source, n, modules)
               for a in (*call.args, *(k.value for k in call.keywords)) for n in descendants(a))


def builds_modules(source: SourceFile, name: str, modules: set[str]) -> bool:
    """The module's plain class `name` makes layers in its own methods (`self.net =
    nn.Sequential(...)`): an actor or a head written as a plain class (fresh26
    `sac_bandit_actor_plain_class`: its 8 leaves missing from `trainable_parameters()`)."""
    cls = next((c for c in source.of_type(ast.ClassDef) if c.name == name), None)
    if cls is None:
        return False
    methods = [m for m in cls.body if isinstance(m, FUNCTIONS)]
    return any(isinstance(value, ast.Call) and layer_call(source, value, modules)
               for method in methods for _, value in body_assignments(source, method))


class CustomModuleContainer(Rule):
    """MLX013: an nn.Module stores its layers in an instance of a hand-written class (not a
    Module, list or dict): `self.blocks = ModuleList([...])`, or `self.actor = Actor(...)`
    whose plain class builds its own layers."""

    id = "MLX013"
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "nn." in text and any(f"{name}(" in text for name in PLAIN_CLASS.findall(text))

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks that define a plain class, the `nn` classes that store an instance of
        one (the sites), and the `nn` classes a site names (the layers it may hand over)."""
        stored = {n: re.compile(rf"self\.\w+\s*(?::[^=\n]*)?=\s*(?:{n}|[\w.]*Sequential)\(")
                  for n in PLAIN_CLASS.findall(text) if f"{n}(" in text}
        names = [n for n, binding in stored.items() if binding.search(text)]

        def layer_class(block: str) -> bool:
            return "class " in block and "nn." in block

        sites = [b for b in blocks(text) if layer_class(b)
                 and any(stored[n].search(b) for n in names)]
        named = {w for b in sites for w in WORD.findall(b)}
        return lambda block: any(f"class {n}" in block for n in names) or (layer_class(block) and (
            block in sites or not named.isdisjoint(DEFINES.findall(block))))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        plain = plain_classes(source)
        if not plain:
            return
        modules = {c.name for c in module_classes(source)}
        for cls in source.of_type(ast.ClassDef):
            if cls.name not in modules:
                continue
            for target, bound in assignments(descendants(cls)):
                parts = dotted(target)
                if not (parts and parts[0] == "self"):
                    continue
                for value in stored_calls(source, bound):
                    if (isinstance(value.func, ast.Name) and value.func.id in plain
                            and (value.func.id in CONTAINERS or holds_modules(
                                source, value, modules) or builds_modules(
                                source, value.func.id, modules))):
                        yield self.hit(source, value)


def stored_calls(source: SourceFile, value: ast.AST) -> list[ast.Call]:
    """The calls whose results an attribute binding stores: the value itself, or the
    members of an `nn.Sequential(...)` or of a list/tuple it is given (fresh144
    `quarry_vqvae2_residual`, mlx-vqvae2 1ee0298: a plain `ResidualStack` among an
    `nn.Sequential`'s layers, its convolutions never in `parameters()`)."""
    if not isinstance(value, (ast.Call, ast.List, ast.Tuple)):
        return []
    if isinstance(value, ast.Call) and source.imports.resolve(value.func) != SEQUENTIAL:
        return [value]
    members = value.args if isinstance(value, ast.Call) else value.elts
    found = []
    for member in members:
        member = member.value if isinstance(member, ast.Starred) else member
        if isinstance(member, ast.BinOp) and isinstance(member.op, ast.Mult):
            member = member.left  # `[Block(...)] * n`
        found += stored_calls(source, member) if isinstance(
            member, (ast.List, ast.Tuple)) else [member] if isinstance(member, ast.Call) else []
    return found
