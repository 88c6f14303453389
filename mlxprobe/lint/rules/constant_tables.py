"""MLX154: a constant table stored as a public array attribute of a module the file trains.
`nn.Module` collects every public `mx.array` attribute as a parameter, so a table computed
once in `__init__` (rotary cos/sin from `mx.cos`/`mx.sin`, positions from `mx.arange`, an
integer lookup table) is handed to the optimizer with the weights and rewritten at every
step: the model that finishes is not the one defined, while its loss may look normal.

Measured (mlx 0.32.4 CPU): failure corpus fresh48 `rope_tables_trainable` (mlxchat 910c365):
rotary tables as `self.cos`/`self.sin` counted 14,512 trainable parameters instead of 13,488,
and after training max|cos^2 + sin^2 - 1| = 0.84 (0 with `self.freeze(keys=["cos",
"sin"])`); fresh25 `int_ordering_buffer_trained`: an int32 lookup table as a public attribute,
updated by the optimizer.

Job: in the `__init__` of the file's own `nn.Module` classes, a public `self.x = value` whose
value (directly, through a local name, or through a method of the class it calls) is built by
`mx.sin`, `mx.cos` or `mx.arange` (or NumPy's, made an array by `mx.array`), or has an integer
dtype, in a file that trains (a gradient and an update) and never freezes `x`
(`freeze(keys=...)` naming it, a bare `freeze()` of the class, or of an instance in the
`__init__` that builds it, or of one that builds the class). A private name (`self._cos`) is
not collected: the fix. An attribute the class reads only through `mx.exp` is a log-space
quantity trained on purpose (Mamba's `A_log`), not a table; one read as `1 - self.x` is a
mixing weight (RWKV's token shift); one a method multiplies or offsets by another of the
class's own trained arrays (`self.w * dt`, `dt = mx.exp(self.log_dt)`) is a parameterisation
trained with it (S4D).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import method_of, self_attr
from ..source import SourceFile
from .base import TRAINS, Rule, trains

TABLES = frozenset({"mlx.core.sin", "mlx.core.cos", "mlx.core.arange"})
NUMPY_TABLES = frozenset({"numpy.sin", "numpy.cos", "numpy.arange"})
INTEGER = frozenset(f"mlx.core.{t}" for t in (
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"))


def self_targets(node: ast.Assign) -> list[str]:
    return [a for t in node.targets if (a := self_attr(t)) is not None]


def constant(source: SourceFile, cls: ast.ClassDef, value: ast.AST,
             local: dict[str, ast.AST], depth: int = 0) -> bool:
    """`value` is a table: built by sin/cos/arange, of an integer dtype, or a local name or
    a method of `cls` (one level) that returns one."""
    for node in ast.walk(value):
        name = source.imports.resolve(node) if isinstance(node, (ast.Attribute, ast.Name)) else None
        if name in TABLES or name in INTEGER or converted_table(source, node):
            return True
        if isinstance(node, ast.Name) and node.id in local and depth < 2 and constant(
                source, cls, local[node.id], local, depth + 1):
            return True
        method = called_method(cls, node)
        if method is not None and depth < 2 and any(constant(
                source, cls, r, {}, depth + 1) for r in returns(method)):
            return True
    return False


def converted_table(source: SourceFile, node: ast.AST) -> bool:
    """`mx.array(np.arange(n)[None, :])`: a NumPy table made an MLX array, which the module
    collects as a parameter like `mx.arange`'s (fresh321 `herbarium_sheet_cliptower`,
    mlx-vlm a481a5b: CLIP's stored position ids made `nn.value_and_grad` raise '[gather]
    Cannot calculate VJP with respect to indices' at the first step). A NumPy array left as
    it is is no parameter."""
    if not (isinstance(node, ast.Call)
            and source.imports.resolve(node.func) == "mlx.core.array"):
        return False
    return any(source.imports.resolve(n) in NUMPY_TABLES for n in ast.walk(node)
               if isinstance(n, (ast.Attribute, ast.Name)))


def called_method(cls: ast.ClassDef, node: ast.AST) -> ast.FunctionDef | None:
    """The method of `cls` a call `self.m(...)` or `Cls.m(...)` runs."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("self", cls.name)):
        return None
    return method_of(cls, node.func.attr)


def returns(function: ast.FunctionDef) -> list[ast.AST]:
    return [n.value for n in ast.walk(function) if isinstance(n, ast.Return) and n.value]


def locals_of(init: ast.FunctionDef) -> dict[str, ast.AST]:
    """Plain local names `__init__` binds, to their values (a tuple unpack binds each name
    to the whole value: `cos, sin = self._rotary(n)`)."""
    found: dict[str, ast.AST] = {}
    for node in ast.walk(init):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for name in bound_names(target):
                    found[name] = node.value
    return found


def bound_names(target: ast.AST) -> list[str]:
    """The plain names an assignment target binds: `x`, each of `a, (b, *c)`; not the `self`
    of `self.x = ...` (fresh266 `belfry_hunt_retention`: `self` read as bound to the class's
    last `self._gammas = ... mx.arange(...)`, so `self.rope = nn.RoPE(self.hd)` looked like a
    table)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return bound_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in bound_names(element)]
    return []


def frozen(source: SourceFile, cls: ast.ClassDef, attribute: str) -> bool:
    """A `freeze(...)` call in the file names the attribute, `self.freeze()` of the class
    freezes it all, or a bare `freeze()` of an instance freezes the class or one that builds
    it (`frozen_classes`)."""
    if cls.name in frozen_classes(source):
        return True
    for call in source.of_type(ast.Call):
        if not (isinstance(call.func, ast.Attribute) and call.func.attr == "freeze"):
            continue
        texts = {n.value for n in ast.walk(call) if isinstance(n, ast.Constant)}
        bare = not call.args and not call.keywords
        if attribute in texts or (bare and source.enclosing(call, (ast.ClassDef,)) is cls):
            return True
    return False


def frozen_classes(source: SourceFile) -> set[str]:
    """The file's module classes whose instances are frozen whole when they are built: the
    class of a sub-module an `__init__` builds and freezes there (`self.kernels =
    RandomKernels()`, then `self.kernels.freeze()`), and every module class built inside a
    frozen one (its layers: `self.convs = [DilatedBank(...) for d in dilations]`) (fresh393
    `vario_trace_rocket`, correct: a ROCKET-style bank of random kernels frozen under a
    trained head, its integer tap offsets `self.offsets` never trained). A freeze anywhere
    else may come after some training (fresh356 `semaphore_mirror_uniform_noise`: `model.
    freeze()` for a second stage, its step-code table trained in the first: kept as true)."""
    def make() -> set[str]:
        classes = {c.name: c for c in module_classes(source)}
        todo = [name for c in classes.values() if (init := method_of(c, "__init__"))
                for name in frozen_in(init, classes)]
        found: set[str] = set()
        while todo:
            name = todo.pop()
            if name not in found:
                found.add(name)
                todo += [n.func.id for n in ast.walk(classes[name]) if isinstance(n, ast.Call)
                         and isinstance(n.func, ast.Name) and n.func.id in classes]
        return found
    return source.cached("frozen_classes", source.tree, make)


def frozen_in(init: ast.FunctionDef, classes: dict[str, ast.ClassDef]) -> list[str]:
    """The module classes an `__init__` builds (`self.kernels = RandomKernels()`) and then
    freezes whole there (`self.kernels.freeze()`)."""
    built = {ast.unparse(t): node.value.func.id for node in ast.walk(init)
             if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
             and isinstance(node.value.func, ast.Name) and node.value.func.id in classes
             for t in node.targets}
    return [built[receiver] for call in ast.walk(init)
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == "freeze" and not call.args and not call.keywords
            and (receiver := ast.unparse(call.func.value)) in built]


class ConstantTableTrained(Rule):
    """MLX154: `self.cos = mx.cos(angles)` in a module the file trains."""

    id = "MLX154"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text) and "self." in text and (
            "sin(" in text or "cos(" in text or "arange(" in text or "int" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for cls in module_classes(source):
            init = method_of(cls, "__init__")
            if init is None:
                continue
            local = locals_of(init)
            for node in ast.walk(init):
                if isinstance(node, ast.Assign):
                    yield from self._tables(source, cls, node, local)

    def _tables(self, source: SourceFile, cls: ast.ClassDef, node: ast.Assign,
                local: dict[str, ast.AST]) -> Iterator[Finding]:
        for attribute in self_targets(node):
            if attribute.startswith("_") or not constant(source, cls, node.value, local):
                continue
            if not (frozen(source, cls, attribute) or exponentiated(source, cls, attribute)
                    or complemented(cls, attribute)
                    or scaled_by_parameter(source, cls, attribute, local)):
                yield self.hit(source, node)


def scaled_by_parameter(source: SourceFile, cls: ast.ClassDef, attribute: str,
                        init_locals: dict[str, ast.AST]) -> bool:
    """Some method of the class multiplies or offsets `self.<attribute>` itself by a value
    computed from the class's other trained arrays alone, no input of the method in it
    (`self.w * dt` with `dt = mx.exp(self.log_dt)`): a parameterisation trained with it, not
    a table applied to data (fresh319 `wax_cylinder_s4d_fftconv`, correct: S4D's
    frequencies `pi * arange(n)`, trained as the state matrix's imaginary part beside its
    learned step; a rotary table times the queries stays a table)."""
    trained = parameters(source, cls, init_locals) - {attribute}
    for method in (f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name != "__init__"):
        local, inputs = locals_of(method), {a.arg for a in method.args.args[1:]}
        for node in ast.walk(method):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC) and any(
                    table_read(a, attribute) and own_value(b, local, inputs, trained)
                    for a, b in ((node.left, node.right), (node.right, node.left))):
                return True
    return False


ARITHMETIC = (ast.Mult, ast.Add, ast.Sub, ast.Div)


def table_read(node: ast.AST, attribute: str) -> bool:
    """`self.<attribute>`, or a subscript of it (`self.w[..., None]`)."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return self_attr(node) == attribute


def own_value(node: ast.AST, local: dict[str, ast.AST], inputs: set[str], trained: set[str],
              depth: int = 2) -> bool:
    """`node` reads one of `trained` and none of the method's inputs, through its local
    names (`dt`, bound to `mx.exp(self.log_dt)`)."""
    attrs = {a for n in ast.walk(node) if (a := self_attr(n)) is not None}
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    followed = [local[n] for n in names if n in local]
    if names & inputs or (followed and not depth):
        return False
    values = [own_value(v, local, inputs, trained, depth - 1) for v in followed]
    return all(values) and (bool(attrs & trained) or any(values))


def parameters(source: SourceFile, cls: ast.ClassDef, local: dict[str, ast.AST]) -> set[str]:
    """Public attributes `__init__` binds to an MLX array that is no table (`mx.array(...)`,
    `mx.random.normal(...)`, `mx.zeros(...)`): the class's own trained arrays."""
    init = method_of(cls, "__init__")
    found = set()
    for node in ast.walk(init) if init is not None else ():
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Call, ast.BinOp)) and any(
                (source.imports.resolve(c.func) or "").startswith("mlx.core.")
                for c in ast.walk(node.value) if isinstance(c, ast.Call)) and not constant(
                source, cls, node.value, local):
            found |= {a for a in self_targets(node) if not a.startswith("_")}
    return found


def complemented(cls: ast.ClassDef, attribute: str) -> bool:
    """The class reads `1 - self.<attribute>`: a mixing weight or gate, trained on purpose
    (RWKV's token shift, `x * self.mix_k + xx * (1 - self.mix_k)`, its per-channel weights
    initialised from `mx.arange(dim) / dim`: fresh266 `millrace_sluice_wkv`), not a table."""
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub) and isinstance(
        n.left, ast.Constant) and n.left.value == 1 and self_attr(n.right) == attribute
        for n in ast.walk(cls))


def exponentiated(source: SourceFile, cls: ast.ClassDef, attribute: str) -> bool:
    """Every read of `self.<attribute>` in the class is the argument of `mx.exp`: a quantity
    kept in log space to be learned (Mamba's `A_log = mx.log(mx.arange(...))`, read as
    `-mx.exp(self.A_log)`: fresh140 `canal_lock_mamba_ok`), not a table read as it is."""
    reads = [n for n in ast.walk(cls) if isinstance(n, ast.Attribute)
             and isinstance(n.ctx, ast.Load) and self_attr(n) == attribute]
    return bool(reads) and all(_exp_of(source, n) for n in reads)


def _exp_of(source: SourceFile, node: ast.AST) -> bool:
    parent = source.parents.get(node)
    return isinstance(parent, ast.Call) and node in parent.args and source.imports.resolve(
        parent.func) == "mlx.core.exp"
