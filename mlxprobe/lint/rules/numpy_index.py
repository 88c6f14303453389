"""MLX134: an MLX array indexed with a NumPy array: MLX raises "Cannot index mlx array using
the given type".

Job: in each function (and the module's top level), find a subscript whose value is an MLX
array as the dataflow pass sees it (`arrays_in`: from mlx.core calls, a model's output,
arithmetic and slices of those) and whose index, or one part of a tuple index, is a NumPy
array: a call of `np.arange`/`np.array`/`np.asarray`/... or a local name every binding of
which is one. NumPy's fancy indexing `x[np.arange(n), labels]` is the spelling users bring
from NumPy and PyTorch (which take it); MLX takes `mx.array` indices, ints and slices.

An element of a NumPy split counts too (`val_idx = folds[k]` with `folds =
np.array_split(perm, K)`), and a name bound at the module's top level is followed there (a
script with no functions): failure corpus fresh153 `waterwell_strike_oof` (bert-playground
b172129), out-of-fold predictions stored with `oof[val_idx] = probs` raised the same
ValueError after the first fold trained.

Measured (mlx 0.32.4 CPU, failure corpus fresh31 `orpo_numpy_gather`): the ORPO log-prob
gather `flat_log_probs[np.arange(n), flat_labels]` raised ValueError inside the first
`value_and_grad` call; `x[np.arange(4)]` alone raises the same text.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import arrays_in, is_array
from ..finding import Finding
from ..flow import assignments, body_nodes, local_values
from ..source import SourceFile
from .base import Rule

MAKERS = ("arange", "array", "asarray", "where", "nonzero", "argsort", "argmax", "argmin",
          "concatenate", "stack", "flatnonzero", "repeat", "tile")
NUMPY_ARRAYS = frozenset(f"numpy.{name}" for name in MAKERS)
NUMPY_RANDOM = ("numpy.random.",)
SPLITS = frozenset({"numpy.split", "numpy.array_split"})  # lists of NumPy arrays
MAKER = re.compile(r"np\.(?:" + "|".join(MAKERS) + r"|array_split|split|random\.\w+)\(")
OPEN_SUBSCRIPT = re.compile(r"[\w)\]]\[[^\]]*$")  # a line's text up to an index part
BOUND_TO = re.compile(r"[ \t]*(\w+)[ \t]*=[ \t]*$")
INSIDE = re.compile(r"[\w)\]]\[([^\]\n]*)")  # a subscript's text up to `]` or the line's end
WORD = re.compile(r"\w+")


def _numpy_call(source: SourceFile, node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = source.imports.resolve(node.func) or ""
    return name in NUMPY_ARRAYS or (name.startswith(NUMPY_RANDOM)
                                    and "seed" not in name)


def _numpy_index(source: SourceFile, node: ast.AST) -> bool:
    """A NumPy array: a call that makes one, or a name bound only to such calls or to an
    element of a NumPy split (`val_idx = folds[k]`, `folds = np.array_split(perm, K)`)."""
    if _numpy_call(source, node):
        return True
    values = _bindings(source, node)  # none for an expression that is no name
    return bool(values) and all(_numpy_call(source, v) or _split_element(source, v)
                                or _numpy_slice(source, v) for v in values)


def _split_element(source: SourceFile, node: ast.AST) -> bool:
    """`parts[k]` where every binding of `parts` is `np.split(...)`/`np.array_split(...)`."""
    if not isinstance(node, ast.Subscript):
        return False
    values = _bindings(source, node.value)
    return bool(values) and all(isinstance(v, ast.Call) and (
        source.imports.resolve(v.func) or "") in SPLITS for v in values)


def _numpy_slice(source: SourceFile, node: ast.AST) -> bool:
    """`perm[i * b:(i + 1) * b]` where every binding of `perm` makes a NumPy array
    (`np.random.permutation(n)`): a slice of one is one (an element, a NumPy integer, is an
    index MLX takes). Failure corpus fresh170 `mnist_vit_perm_slice` (mlx-w3-mnist-transformer
    edb87c5): `images_full[perm[a:b]]` raised at the first batch."""
    if not isinstance(node, ast.Subscript) or not isinstance(node.slice, ast.Slice):
        return False
    values = _bindings(source, node.value)
    return bool(values) and all(_numpy_call(source, v) for v in values)


def _bindings(source: SourceFile, node: ast.AST) -> list[ast.AST]:
    """What a name was bound to in its function, or at the module's top level when read
    there (a script with no functions: fresh153 `waterwell_strike_oof`)."""
    values = local_values(source, node, node)
    if not values and source.enclosing(node) is None and isinstance(node, ast.Name):
        values = [v for t, v in assignments(body_nodes(source, source.tree))
                  if isinstance(t, ast.Name) and t.id == node.id]
    return values


class NumpyIndex(Rule):
    """MLX134: `log_probs[np.arange(n), labels]` with `log_probs` an MLX array."""

    id = "MLX134"
    anchors = ("np.",)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A NumPy array made inside a subscript's brackets, or a name bound to one read
        inside them (a str.find walk over `np.`: a regex with no literal head tries every
        position of the file)."""
        if "import numpy" not in text or "mlx" not in text:
            return False
        names: set[str] = set()
        at = text.find("np.")
        while at != -1:
            if MAKER.match(text, at):
                prefix = text[text.rfind("\n", 0, at) + 1:at]
                if OPEN_SUBSCRIPT.search(prefix):
                    return True
                names.update(BOUND_TO.findall(prefix))
            at = text.find("np.", at + 3)
        if names:  # one scan for every name's elements (`x = idx[...]`), not one per name
            names |= set(re.findall(rf"^[ \t]*(\w+)[ \t]*=[ \t]*(?:{'|'.join(sorted(names))})\[",
                                    text, re.MULTILINE))
        return bool(names) and any(not names.isdisjoint(WORD.findall(inside))
                                   for inside in INSIDE.findall(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for index in array_indices(source, lambda part: _numpy_index(source, part)):
            yield self.hit(source, index)


def array_indices(source: SourceFile, pick: Callable[[ast.AST], bool]) -> Iterator[ast.AST]:
    """The index (or the part of a tuple index) that `pick` accepts, of each subscript of a
    value the dataflow pass sees as an MLX array and that no binding makes a NumPy array."""
    for node in source.of_type(ast.Subscript):
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index = next((p for p in parts if pick(p)), None)
        if index is None:
            continue
        scope = source.enclosing(node) or source.tree
        if is_array(source, node.value, arrays_in(source, scope)) and not _ever_numpy(
                source, node.value):
            yield index


def _ever_numpy(source: SourceFile, node: ast.AST) -> bool:
    """A local name (or a module-level one, read at module level) some binding of which is a
    NumPy call (`x = np.zeros(...)`; fresh51 longest_run_dilated_conv: `pred` an MLX array
    in the training loop, then `np.array(...)` for a report at the end of the script)."""
    return any(_numpy_value(source, v) for v in _bindings(source, node))


def _numpy_value(source: SourceFile, value: ast.AST) -> bool:
    """A NumPy call, or arithmetic on one with no MLX call beside it (`np.array(-tok) /
    math.log(2.0)`: fresh370 `pierhead_bytes_window`, correct, whose per-token bits were
    indexed with a class mask once a NumPy array)."""
    if isinstance(value, ast.UnaryOp):
        return _numpy_value(source, value.operand)
    if isinstance(value, ast.BinOp):
        sides = (value.left, value.right)
        return any(_numpy_value(source, s) for s in sides) and not any(
            _mlx_call(source, s) for s in sides)
    return isinstance(value, ast.Call) and _resolved(source, value).startswith("numpy.")


def _mlx_call(source: SourceFile, node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _resolved(source, node).startswith("mlx.")


def _resolved(source: SourceFile, call: ast.Call) -> str:
    return source.imports.resolve(call.func) or ""
