"""MLX234: `model.save_weights(path)` or `model.load_weights(path)` handed a `pathlib.Path`:
both take the file as a string. `save_weights` tests its suffix with `str.endswith` and raises
`AttributeError: 'PosixPath' object has no attribute 'endswith'`; `load_weights` takes a
string or a list of (name, array) pairs and raises `TypeError: 'PosixPath' object is not
iterable`. Either is raised at the first checkpoint, after training has run (ml-explore/mlx
issue 2522 asks for Path support; `mx.save_safetensors`, `mx.savez` and `mx.load` take one).

Measured (mlx 0.32.4 CPU, failure corpus fresh239 `lighthouse_lamp_ddqn`, mario-rl-mlx
3beed92): a double-DQN agent whose checkpoint path was `self.save_dir / f"...safetensors"`
trained to its first save and died with that AttributeError; `str(self.save_dir) + f"..."`
saved.

Job: a `.save_weights(x)`/`.load_weights(x)` call whose file argument is a path object: a
`/` with a string or f-string operand (a str has no `/`: only a path object joins that way),
a call of `Path(...)`/`pathlib.Path(...)`, or a name bound only to those in its function. A
file that defines its own `save_weights`/`load_weights` is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import bound_only_to
from ..source import FUNCTIONS, SourceFile
from .base import Rule

METHODS = frozenset({"save_weights", "load_weights"})
PATHS = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.PurePath"})


class PathToWeights(Rule):
    """MLX234: `save_weights`/`load_weights` handed a `pathlib.Path`."""

    id = "MLX234"
    anchors = ("_weights(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "_weights(" in text and "Path" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if any(f.name in METHODS for f in source.of_type(*FUNCTIONS)):
            return
        for call in source.of_type(ast.Call):
            if isinstance(call.func, ast.Attribute) and call.func.attr in METHODS and \
                    call.args and is_path(source, call.args[0], source.enclosing(call), 2):
                yield self.hit(source, call)


def is_path(source: SourceFile, node: ast.AST, scope: ast.AST | None, depth: int) -> bool:
    """A path object: `x / "name"`, `x / f"..."`, `Path(...)`, or a name bound only to
    those in its function."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return any(isinstance(side, ast.JoinedStr) or (
            isinstance(side, ast.Constant) and isinstance(side.value, str))
            for side in (node.left, node.right))
    if isinstance(node, ast.Call):
        return source.imports.resolve(node.func) in PATHS
    return bound_only_to(source, node, scope, depth,
                         lambda value, left: is_path(source, value, scope, left))
