"""Who calls a function of the module, and what each call hands a parameter: the
interprocedural step of the lint's dataflow, for values passed down a model's layers.

Job: `arguments_for(source, function, name)`: for a module class's `__call__`, the calls of
its instances (`self.attn(x, mask)` with `self.attn = Attention(...)` in the caller's
`__init__`, `b(x, mask)` in `for b in self.blocks` with `self.blocks = [Block(...) ...]`); for
a module-level function, its calls by name; each with the argument expression it hands the
parameter `name` and the function the call sits in. None when a caller is unknown (the
function also used as a value, an instance held elsewhere): a rule then says nothing.

`local_calls(source, decorated)`: the calls by plain name of a function the module defines
once (outside a class body), the name bound by nothing else (`shadowing`), with that function
(MLX207, MLX212).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from .dataflow import layer_classes, module_classes
from .flow import bound_arguments, called_only, self_attr
from .source import FUNCTIONS, SourceFile

Passed = list[tuple[ast.AST, ast.AST | None]]  # (argument, the function the call is in)


def arguments_for(source: SourceFile, function: ast.AST, name: str) -> Passed | None:
    """What every known call of `function` hands its parameter `name` (see the module)."""
    params = _parameters(function)
    if name not in params:
        return None
    sites = _forward_calls(source, function) if function.name == "__call__" else \
        called_only(source, function)
    if not sites:
        return None
    passed: Passed = []
    for call in sites:
        if any(isinstance(a, ast.Starred) for a in call.args):
            return None  # positions unknown past a `*args`
        argument = bound_arguments(function, call).get(name)
        if argument is None:
            return None
        passed.append((argument, source.enclosing(call)))
    return passed


def _parameters(function: ast.AST) -> list[str]:
    """Positional parameter names, `self` left out for a method."""
    args = function.args.posonlyargs + function.args.args
    names = [a.arg for a in args]
    return names[1:] if names and names[0] == "self" else names


def _forward_calls(source: SourceFile, forward: ast.AST) -> list[ast.Call]:
    """Calls of the instances of the class `forward` is the `__call__` of, made in the
    other module classes' methods through a layer attribute."""
    cls = source.enclosing(forward, (ast.ClassDef,))
    return _forward_sites(source).get(cls, []) if cls is not None else []


def _forward_sites(source: SourceFile) -> dict[ast.ClassDef, list[ast.Call]]:
    """Each module class -> the calls of its instances through a layer attribute of another
    module class (`self.attn(x, mask)`, `b(x, mask)` in `for b in self.blocks`): one walk
    per module."""
    def make() -> dict[ast.ClassDef, list[ast.Call]]:
        found: dict[ast.ClassDef, list[ast.Call]] = {}
        for owner in module_classes(source):
            held = layer_classes(source, owner)
            if not held:
                continue
            loops = _loop_names(owner, held)
            for call in _calls_in(owner):
                made = _made_by(call, held, loops)
                if made is not None:
                    found.setdefault(made, []).append(call)
        return found
    return source.cached("forward_sites", source.tree, make)


def _calls_in(cls: ast.ClassDef) -> list[ast.Call]:
    return [n for f in cls.body if isinstance(f, FUNCTIONS) for n in ast.walk(f)
            if isinstance(n, ast.Call)]


def _loop_names(owner: ast.ClassDef, held: dict[str, ast.ClassDef]) -> dict[str, ast.ClassDef]:
    """The targets of the `for` loops in the class that run over a held layer list
    (`for b in self.blocks`) -> the class of that list's layers."""
    return {loop.target.id: held[attr] for loop in ast.walk(owner)
            if isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)
            and (attr := self_attr(loop.iter)) in held}


def _made_by(call: ast.Call, held: dict[str, ast.ClassDef],
             loops: dict[str, ast.ClassDef]) -> ast.ClassDef | None:
    """The class a call runs: `self.attn(...)`, or `b(...)` in `for b in self.blocks`."""
    attr = self_attr(call.func)
    if attr in held:
        return held[attr]
    return loops.get(call.func.id) if isinstance(call.func, ast.Name) else None


def local_calls(source: SourceFile, decorated: bool) -> Iterator[tuple[ast.Call, ast.AST]]:
    """(call, function) for each call of a plain name the module defines once as a function
    outside a class body and binds nowhere else; a decorated one only with `decorated` (a
    decorator may change the signature; `mx.compile` keeps it)."""
    rebound = shadowing(source)
    for call in source.of_type(ast.Call):
        if not isinstance(call.func, ast.Name) or call.func.id in rebound:
            continue
        function = source.local_function(call.func.id)
        if isinstance(function, FUNCTIONS) and (decorated or not function.decorator_list) \
                and not isinstance(source.parents.get(function), ast.ClassDef):
            yield call, function


def shadowing(source: SourceFile) -> set[str]:
    """Names bound anywhere other than by a def: assigned, imported (`from mlx_audio.audio_io
    import read as read_audio` inside a function, beside a module-level `def read_audio`:
    mlx-vlm's utils.py), or a parameter's."""
    names = {t.id for t in source.of_type(ast.Name) if isinstance(t.ctx, ast.Store)}
    names |= {(a.asname or a.name).split(".")[0]
              for node in source.of_type(ast.Import, ast.ImportFrom) for a in node.names}
    return names | {a.arg for a in source.of_type(ast.arg)}

