"""MLX119: in a program that makes bfloat16 arrays (`model.set_dtype(mx.bfloat16)`,
`.astype(mx.bfloat16)`, `dtype=mx.bfloat16`), the leaves of a tree (`for k, v in
tree_flatten(opt.state)`) handed to `np.array`/`np.asarray` as they are: NumPy has no
bfloat16, so the conversion raises at the first bfloat16 leaf (a checkpoint or a log of the
weights that works in float32 and crashes once the model is cast).

Measured (mlx 0.32.4 CPU): `np.array(mx.ones(2, dtype=mx.bfloat16))` and `np.asarray(...)`
raise `ValueError: 'bfloat16' is not a valid PEP 3118 buffer format string`; after
`.astype(mx.float32)` both work. Failure corpus fresh21 `bf16_opt_state_npz` (a bfloat16
regressor's per-epoch checkpoint of the optimizer state crashed at the end of epoch 1).

Job: find such conversions of a tree's leaves; one whose argument is cast first is left
alone, and so is a program that never makes a bfloat16 array it keeps (a bfloat16 copy made
inside the arguments of a save is written and dropped).
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import instances
from ..source import SourceFile, descendants
from .base import Rule
from .contracts import SAVERS
from .stopping import Trace
from .tree_iteration import iterations

BFLOAT16 = frozenset({"mlx.core.bfloat16"})
FLATTEN = "mlx.utils.tree_flatten"
TO_NUMPY = frozenset({"numpy.array", "numpy.asarray"})
TREES = frozenset({"parameters", "trainable_parameters"})
CASTS = frozenset({"set_dtype", "apply", "update", "load_weights"})


def makes_dtype(source: SourceFile, dtypes: frozenset[str]) -> bool:
    """The module names one of `dtypes` (`mx.bfloat16`, however imported)."""
    return any(source.imports.resolve(n) in dtypes for n in source.of_type(ast.Attribute))


def makes_kept_bfloat16(source: SourceFile) -> bool:
    """The module names `mx.bfloat16` other than inside the arguments of a save
    (`mx.save_safetensors(path, {k: v.astype(mx.bfloat16) ...})`: a bfloat16 copy written to
    disk and dropped, the trees the program keeps stay float32; fresh225
    `kelp_longline_grade_resume_export`, a bfloat16 export after a float32 run)."""
    inside = _inside_calls(source, lambda name: name in SAVERS)
    return any(source.imports.resolve(n) in BFLOAT16 and id(n) not in inside
               for n in source.of_type(ast.Attribute))


def _inside_calls(source: SourceFile, wanted: Callable[[str | None], bool]) -> set[int]:
    """The ids of the nodes inside the calls whose callee (a plain name, else its resolved
    dotted name) `wanted` accepts."""
    return {id(n) for c in source.of_type(ast.Call) if wanted(
        c.func.id if isinstance(c.func, ast.Name) and not source.imports.resolve(c.func)
        else source.imports.resolve(c.func)) for n in descendants(c)}


COUNTERS = frozenset({"sorted", "len", "sum", "json.dump", "json.dumps"})


def makes_kept(source: SourceFile, dtypes: frozenset[str]) -> bool:
    """The module names one of `dtypes` other than in copies only written to disk: inside a
    save's arguments, or bound to a name whose every read lies inside a save's arguments or
    is only counted (`sorted`, `len`, `sum`, `json.dump`). fresh274 `belfry_shard_handoff`
    (correct): `flat = {k: v.astype(mx.bfloat16) ...}` published as safetensors shards,
    read back and cast to float32 before a float32 model ever runs."""
    disk = _inside_calls(source, lambda name: name in SAVERS or name in COUNTERS)
    reads: dict[str, list[ast.Name]] = {}
    for name in source.of_type(ast.Name):
        if isinstance(name.ctx, ast.Load):
            reads.setdefault(name.id, []).append(name)
    cut = disk | {id(n) for a in source.of_type(ast.Assign) if len(a.targets) == 1
                  and isinstance(a.targets[0], ast.Name)
                  and all(id(r) in disk for r in reads.get(a.targets[0].id, [None]))
                  for n in descendants(a.value)}
    return any(source.imports.resolve(n) in dtypes and id(n) not in cut
               for n in source.of_type(ast.Attribute))


def leaf(target: ast.AST) -> str | None:
    """`v` of `for k, v in tree_flatten(...)`."""
    if isinstance(target, ast.Tuple) and len(target.elts) == 2 and isinstance(
            target.elts[1], ast.Name):
        return target.elts[1].id
    return None


def flattened(source: SourceFile, iterable: ast.AST) -> ast.Call | None:
    """The `tree_flatten(...)` call a loop's pairs come from: the call itself, or `.items()`
    of a dict made of it (`flat = dict(tree_flatten(model.parameters()))`, its last binding
    before the loop in the same function; fresh330 `copperplate_engraver_charlm`,
    autoresearch-muon a9af0e6: `{k: np.array(v) for k, v in flat.items()}` of bfloat16
    weights crashed the checkpoint save after training)."""
    if not isinstance(iterable, ast.Call):
        return None
    if source.imports.resolve(iterable.func) == FLATTEN:
        return iterable
    func = iterable.func
    if not (isinstance(func, ast.Attribute) and func.attr == "items" and not iterable.args):
        return None
    made = func.value
    if isinstance(made, ast.Name):
        scope = source.enclosing(iterable) or source.tree
        made = Trace(source, scope).binding(made.id, iterable.lineno)
    inner = made.args[0] if isinstance(made, ast.Call) and isinstance(made.func, ast.Name) \
        and made.func.id == "dict" and len(made.args) == 1 else None
    return inner if isinstance(inner, ast.Call) and source.imports.resolve(
        inner.func) == FLATTEN else None


def float32_model(source: SourceFile, tree: ast.AST) -> bool:
    """`teacher.parameters()` of a name bound only to an instance of one of the file's
    classes that never names bfloat16, and never cast after (`set_dtype`, `apply`,
    `update`, `load_weights` on it): its leaves are float32 whatever else the program casts
    (fresh94 `kiln_glaze_distill_bf16`: a float32 teacher's weights compared before and
    after a student trained through a bfloat16 compute copy)."""
    func = tree.func if isinstance(tree, ast.Call) else None
    if not (isinstance(func, ast.Attribute) and func.attr in TREES
            and isinstance(func.value, ast.Name)):
        return False
    name = func.value.id
    cls = instances(source).get(name)
    return cls is not None and not any(
        source.imports.resolve(n) in BFLOAT16 for n in descendants(cls)
        if isinstance(n, ast.Attribute)) and not any(
        isinstance(c.func, ast.Attribute) and c.func.attr in CASTS
        and isinstance(c.func.value, ast.Name) and c.func.value.id == name
        for c in source.of_type(ast.Call))


class Bfloat16ToNumpy(Rule):
    """MLX119: `np.array(v)` for `k, v in tree_flatten(opt.state)` in a bfloat16 program."""

    id = "MLX119"
    anchors = ("bfloat16",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "bfloat16" in text and "tree_flatten" in text and ("np." in text
                                                                 or "numpy" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if not makes_kept_bfloat16(source):
            return
        for iterable, target, used in iterations(source):
            name, flat = leaf(target), flattened(source, iterable)
            if name is None or flat is None or (
                    flat.args and float32_model(source, flat.args[0])):
                continue
            yield from (self.hit(source, n) for n in used if isinstance(n, ast.Call)
                        and source.imports.resolve(n.func) in TO_NUMPY and n.args
                        and isinstance(n.args[0], ast.Name) and n.args[0].id == name)
