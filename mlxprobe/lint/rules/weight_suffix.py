"""MLX271: `model.save_weights(path)` or `model.load_weights(path)` with a path whose written
end is no `.npz` or `.safetensors` (`save_weights("resnet34")`, `os.path.join(out,
"ckpt")`): MLX picks the file's format by that suffix alone and raises `ValueError:
Unsupported file extension ... Use '.npz' or '.safetensors'` (loading: `[load] Could not
infer file format from extension`), so a run that trained for hours dies at its save.

Measured (mlx 0.32.4 CPU): `nn.Linear(2, 2).save_weights(p)` raised that ValueError for `w`,
`w.npy` and `w.NPZ` (the test is case-sensitive) and wrote `w.safetensors`; `load_weights`
of a path with no suffix raised the `[load]` ValueError. (`mx.savez` and
`mx.save_safetensors` add their suffix themselves: no finding.) Failure corpus fresh310
`tidewater_kiln_resnet` (dalongbao/papers b69bf14, an MLX ResNet trainer): 2 epochs trained,
then `save_weights(os.path.join(out_dir, 'resnet_kiln'))` raised it (rc 1); with
`'resnet_kiln.npz'` the run ended cleanly.

Job: a call of a method named `save_weights` or `load_weights` (in a module that defines no
function of that name: the user's own `save_weights` takes what it likes) whose first
argument's written end is known and ends in neither suffix. The written end of a string
constant is its text; of an f-string, its last piece when that is text; of
`os.path.join(..., last)`, `Path(...)`, `str(...)`, `a / last` and `a + last`, that of the
last part; of a local name every binding of which has a known end, each of those (all must
lack the suffix).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import bound_only_to
from ..source import SourceFile
from .base import Rule

METHODS = frozenset({"save_weights", "load_weights"})
SUFFIXES = (".npz", ".safetensors")
# calls whose value ends as their last argument does (`str` and `Path` by their plain names
# too: a builtin resolves to no import)
PASSING = frozenset({"os.path.join", "pathlib.Path", "os.fspath", "str", "Path"})
DEPTH = 3  # names followed through at most this many bindings


def unsuffixed(source: SourceFile, node: ast.AST, scope: ast.AST | None,
               depth: int = DEPTH) -> bool:
    """The path's written end is known and is neither suffix: a string constant's text, an
    f-string's last piece when that is text, the last part of `os.path.join`/`Path`/`str`,
    `a / b` or `a + b`, or a name every binding of which in `scope` is such a path
    (`flow.bound_only_to`, as MLX234 follows its paths)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and not node.value.endswith(SUFFIXES)
    if isinstance(node, ast.JoinedStr):
        last = node.values[-1] if node.values else None
        return isinstance(last, ast.Constant) and not last.value.endswith(SUFFIXES)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Add)):
        return unsuffixed(source, node.right, scope, depth)
    if isinstance(node, ast.Call) and node.args and not node.keywords and \
            passing(source, node.func):
        return unsuffixed(source, node.args[-1], scope, depth)
    return bound_only_to(source, node, scope, depth,
                         lambda value, left: unsuffixed(source, value, scope, left))


def passing(source: SourceFile, func: ast.AST) -> bool:
    """A call whose value ends as its last argument does (`PASSING`)."""
    resolved = source.imports.resolve(func)
    if resolved is None and isinstance(func, ast.Name):
        resolved = func.id
    return resolved in PASSING


class WeightFileSuffix(Rule):
    """MLX271: `model.save_weights("ckpt")`: no `.npz` or `.safetensors` at the end."""

    id = "MLX271"
    anchors = ("_weights(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("save_weights(" in text or "load_weights(" in text) and \
            "def save_weights" not in text and "def load_weights" not in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if isinstance(call.func, ast.Attribute) and call.func.attr in METHODS and \
                    call.args and unsuffixed(source, call.args[0], source.enclosing(call)):
                yield self.hit(source, call)
