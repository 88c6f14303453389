"""Who calls a function of the module, and what each call hands a parameter: the
interprocedural step of the lint's dataflow, for values passed down a model's layers.

Job: `arguments_for(source, function, name)`: for a module class's `__call__`, the calls of
its instances (`self.attn(x, mask)` with `self.attn = Attention(...)` in the caller's
`__init__`, `b(x, mask)` in `for b in self.blocks` with `self.blocks = [Block(...) ...]`); for
a module-level function, its calls by name; each with the argument expression it hands the
parameter `name` and the function the call sits in. None when a caller is unknown (the
function also used as a value, an instance held elsewhere): a rule then says nothing.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast

from .dataflow import layer_classes, module_classes
from .flow import calls_by_name, self_attr
from .source import FUNCTIONS, SourceFile

Passed = list[tuple[ast.AST, ast.AST | None]]  # (argument, the function the call is in)


def arguments_for(source: SourceFile, function: ast.AST, name: str) -> Passed | None:
    """What every known call of `function` hands its parameter `name` (see the module)."""
    params = _parameters(function)
    if name not in params:
        return None
    sites = _forward_calls(source, function) if function.name == "__call__" else \
        _function_calls(source, function)
    if not sites:
        return None
    passed: Passed = []
    for call in sites:
        argument = _argument(call, params, name)
        if argument is None:
            return None
        passed.append((argument, source.enclosing(call)))
    return passed


def _parameters(function: ast.AST) -> list[str]:
    """Positional parameter names, `self` left out for a method."""
    args = function.args.posonlyargs + function.args.args
    names = [a.arg for a in args]
    return names[1:] if names and names[0] == "self" else names


def _argument(call: ast.Call, params: list[str], name: str) -> ast.AST | None:
    if any(isinstance(a, ast.Starred) for a in call.args):
        return None
    given = dict(zip(params, call.args))
    given.update({k.arg: k.value for k in call.keywords if k.arg})
    return given.get(name)


def _function_calls(source: SourceFile, function: ast.AST) -> list[ast.Call]:
    """Calls of a module-level function by its name, when that is its only use."""
    if source.enclosing(function, (ast.ClassDef, *FUNCTIONS)) is not None:
        return []
    sites = calls_by_name(source).get(function.name, [])
    uses = [n for n in source.of_type(ast.Name) if n.id == function.name]
    return sites if len(uses) == len(sites) and source.local_function(function.name) else []


def _forward_calls(source: SourceFile, forward: ast.AST) -> list[ast.Call]:
    """Calls of the instances of the class `forward` is the `__call__` of, made in the
    other module classes' methods through a layer attribute."""
    cls = source.enclosing(forward, (ast.ClassDef,))
    if cls is None:
        return []
    found = []
    for owner in module_classes(source):
        held = {attr for attr, made in layer_classes(source, owner).items() if made is cls}
        if held:
            found += [c for c in _calls_in(owner) if _through(c, held, owner)]
    return found


def _calls_in(cls: ast.ClassDef) -> list[ast.Call]:
    return [n for f in cls.body if isinstance(f, FUNCTIONS) for n in ast.walk(f)
            if isinstance(n, ast.Call)]


def _through(call: ast.Call, held: set[str], owner: ast.ClassDef) -> bool:
    """`self.attn(...)`, or `b(...)` with `b` the target of a `for` over `self.blocks`."""
    if self_attr(call.func) in held:
        return True
    if not isinstance(call.func, ast.Name):
        return False
    return any(isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)
               and loop.target.id == call.func.id and self_attr(loop.iter) in held
               for loop in ast.walk(owner))
