"""What runs in a loop: its body and the module's own helper functions it calls.

Job: the small, shared pieces of intra-module flow the rules need: walk a body without
entering nested definitions, follow calls to functions defined in the same module (a plain
name, `self.method`, or `obj.method` where `obj` is an instance of one of the module's
classes), and read what a body assigns.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator

from .names import dotted
from .source import FUNCTIONS, SourceFile, descendants

NESTED = (*FUNCTIONS, ast.ClassDef, ast.Lambda)
NESTED_TYPES = frozenset(NESTED)
HELPER_DEPTH = 3


def walk(stmts: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node under `stmts`, not entering nested functions, classes or lambdas. Node
    types are compared with `type(...) is` (no AST class is subclassed): the walks and the
    scans of their nodes are most of the rules' time, and this is a fifth faster."""
    stack = list(stmts)
    stack.reverse()
    pop, extend = stack.pop, stack.extend
    while stack:
        node = pop()
        yield node
        if type(node) not in NESTED_TYPES:
            extend(reversed(node._kids))  # set by `source.index`


def calls(nodes: Iterable[ast.AST]) -> Iterator[ast.Call]:
    return (n for n in nodes if type(n) is ast.Call)


def calls_by_name(source: SourceFile) -> dict[str, list[ast.Call]]:
    """The module's calls of a bare name, by that name (built once per module: a lookup
    per function was quadratic in a large file)."""
    key = ("calls_by_name", source.tree)
    if key not in source.cache:
        found: dict[str, list[ast.Call]] = {}
        for call in source.of_type(ast.Call):
            if isinstance(call.func, ast.Name):
                found.setdefault(call.func.id, []).append(call)
        source.cache[key] = found
    return source.cache[key]


def calls_by_attr(source: SourceFile) -> dict[str, list[ast.Call]]:
    """The module's calls of an attribute, `obj.name(...)`, by that name (built once)."""
    key = ("calls_by_attr", source.tree)
    if key not in source.cache:
        found: dict[str, list[ast.Call]] = {}
        for call in source.of_type(ast.Call):
            if isinstance(call.func, ast.Attribute):
                found.setdefault(call.func.attr, []).append(call)
        source.cache[key] = found
    return source.cache[key]


def name_uses(source: SourceFile) -> dict[str, int]:
    """How many times each bare name is read or written in the module (built once per
    module: counting one name's uses per function was quadratic in a large file)."""
    key = ("name_uses", source.tree)
    if key not in source.cache:
        found: dict[str, int] = {}
        for node in source.of_type(ast.Name):
            found[node.id] = found.get(node.id, 0) + 1
        source.cache[key] = found
    return source.cache[key]


def called_only(source: SourceFile, function: ast.AST) -> list[ast.Call]:
    """The calls by name of a module-level function when calling it is its only use (not
    handed on as a value: `mx.compile(f)`, `partial(f)`, a thread's target); else none."""
    if source.enclosing(function, (ast.ClassDef, *FUNCTIONS)) is not None:
        return []
    sites = calls_by_name(source).get(function.name, [])
    if not sites or name_uses(source).get(function.name, 0) != len(sites):
        return []
    return sites if source.local_function(function.name) is not None else []


def attribute_uses(source: SourceFile) -> dict[str, list[ast.Attribute]]:
    """The module's attribute reads and writes (`x.name`), by name (built once per module)."""
    def make() -> dict[str, list[ast.Attribute]]:
        found: dict[str, list[ast.Attribute]] = {}
        for node in source.of_type(ast.Attribute):
            found.setdefault(node.attr, []).append(node)
        return found
    return source.cached("attribute_uses", source.tree, make)


def method_called_only(source: SourceFile, function: ast.AST) -> list[ast.Call]:
    """The calls `self.m(...)` and `inst.m(...)` of a class's own method `m` when every use
    of `.m` in the module is such a call and each runs this method (no dunder: `block(x)`
    runs `__call__` unseen); else none (`mx.compile(self.m)` hands it on, callers unknown)."""
    owner = source.enclosing(function, (ast.ClassDef, *FUNCTIONS))
    if not isinstance(owner, ast.ClassDef) or function.name.startswith("__"):
        return []
    uses = attribute_uses(source).get(function.name, [])
    sites = [source.parents.get(use) for use in uses]
    if not sites or not all(isinstance(c, ast.Call) and c.func is use and helper_of(
            source, c) is function for c, use in zip(sites, uses)):
        return []
    return [c for c in sites if isinstance(c, ast.Call)]


def helper_of(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The module's own function a call runs: `helper(...)`, `self.helper(...)`, or
    `trainer.step(...)` where `trainer` is bound to an instance of one of the module's
    classes (`trainer = Trainer(...)`)."""
    parts = dotted(call.func)
    if parts is None or len(parts) > 2:
        return None
    if len(parts) == 2 and parts[0] != "self":
        return instance_method(source, parts[0], parts[1])
    found = source.local_function(parts[-1])
    return found if found is not None or len(parts) == 1 else stored_function(source, call)


def stored_function(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The module's function `self.part(...)` runs where its class's `__init__` stores one:
    `self.part = helper`, or `self.part = factory(k)` with `factory` returning a function
    it defines (lintheld3 `b3_wta_sparse_mask`: `self.sparsify = make_sparsifier(k)`, whose
    `keep_topk` scattered by indices an argpartition of the layer's output gave)."""
    cls = source.enclosing(call, (ast.ClassDef,))
    attr = call.func.attr if isinstance(call.func, ast.Attribute) else None
    values = stored(source, cls).get(attr or "", []) if isinstance(cls, ast.ClassDef) else []
    if len(values) != 1:
        return None
    value = values[0]
    if isinstance(value, ast.Name):
        return source.local_function(value.id)
    factory = source.local_function(value.func.id) if isinstance(value, ast.Call) and isinstance(
        value.func, ast.Name) else None
    return made_function(source, factory) if factory is not None else None


def stored(source: SourceFile, cls: ast.ClassDef) -> dict[str, list[ast.AST]]:
    """What the class's `__init__` assigns to each `self.x` (computed once per class)."""
    def make() -> dict[str, list[ast.AST]]:
        init = method_of(cls, "__init__")
        found: dict[str, list[ast.AST]] = {}
        for a in ast.walk(init) if init is not None else ():
            if isinstance(a, ast.Assign) and len(a.targets) == 1 and self_attr(a.targets[0]):
                found.setdefault(a.targets[0].attr, []).append(a.value)  # type: ignore[attr-defined]
        return found
    return source.cached("stored", cls, make)


def made_function(source: SourceFile, factory: ast.AST) -> ast.AST | None:
    """The function a factory defines and returns by name (`def keep(h): ...; return keep`),
    when it returns only that."""
    defined = {f.name: f for f in getattr(factory, "body", []) if isinstance(f, FUNCTIONS)}
    returns = {ast.unparse(r.value) if r.value is not None else "" for r in walk(
        getattr(factory, "body", [])) if isinstance(r, ast.Return)}
    return defined.get(next(iter(returns))) if len(returns) == 1 else None


def callee(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The module's own function a call runs, when one function has that name: `helper(x)`,
    or a method of one of the module's classes called on any object (`m.log_joint(x, y)`,
    `stats.std()`); not a dunder (`block(x)` runs `__call__`, seen by no name)."""
    func = call.func
    if isinstance(func, ast.Name):
        return source.local_function(func.id)
    if not isinstance(func, ast.Attribute) or func.attr.startswith("__") or (
            source.imports.resolve(func)):  # `mx.std(x)` is MLX's, whatever the module defines
        return None
    found = source.local_function(func.attr)
    owner = source.enclosing(found, (ast.ClassDef, *FUNCTIONS)) if found is not None else None
    return found if isinstance(owner, ast.ClassDef) and fits(found, call) else None


def fits(method: ast.AST, call: ast.Call) -> bool:
    """The call's arguments bind to the method's parameters (`self` apart): `x.std(axis=0)`
    is no call of a module's own `def std(self)`."""
    args = method.args
    positional = max(len(args.posonlyargs) + len(args.args) - 1, 0)
    return (args.vararg is not None or len(call.args) <= positional) and (
        args.kwarg is not None or all(k.arg in arguments(method) for k in call.keywords))


def instance_method(source: SourceFile, name: str, method: str) -> ast.AST | None:
    """The method `method` of the module's class that `name` is an instance of."""
    cls = instances(source).get(name)
    return method_of(cls, method) if cls is not None else None


def method_of(cls: ast.ClassDef, name: str) -> ast.AST | None:
    """The class's own method `name` (`__init__`, `__call__`), or None."""
    return next((f for f in cls.body if isinstance(f, FUNCTIONS) and f.name == name), None)


def instances(source: SourceFile) -> dict[str, ast.ClassDef]:
    """Plain names bound to an instance of one of the module's classes (`t = Trainer()`),
    when every binding of that name makes the same class."""
    def make() -> dict[str, ast.ClassDef]:
        classes = {c.name: c for c in source.of_type(ast.ClassDef)}
        found: dict[str, ast.ClassDef | None] = {}
        for node in source.of_type(ast.Assign):
            func = node.value.func if isinstance(node.value, ast.Call) else None
            cls = classes.get(func.id) if isinstance(func, ast.Name) else None
            for target in node.targets:
                if isinstance(target, ast.Name):
                    known = found.setdefault(target.id, cls)
                    found[target.id] = cls if known is cls else None
        return {k: v for k, v in found.items() if v is not None}
    return source.cached("instances", source.tree, make)


def body_nodes(source: SourceFile, owner: ast.AST) -> list[ast.AST]:
    """`walk(owner.body)`, computed once per function or loop."""
    key = ("body", owner)
    if key not in source.cache:
        body = owner.body
        source.cache[key] = list(walk(body if isinstance(body, list) else [body]))  # a lambda
    return source.cache[key]


def body_assignments(source: SourceFile, owner: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """`assignments(body_nodes(source, owner))`, computed once per scope (a dozen rules ask
    for the bindings of the same function)."""
    key = ("assignments", owner)
    if key not in source.cache:
        source.cache[key] = list(assignments(body_nodes(source, owner)))
    return source.cache[key]


def loop_reach(source: SourceFile, loop: ast.AST) -> list[ast.AST]:
    """`reach(loop.body)`, computed once per loop."""
    key = ("reach", loop)
    if key not in source.cache:
        source.cache[key] = reach(source, loop.body)
    return source.cache[key]


def reach(source: SourceFile, stmts: list[ast.stmt],
          wrapped: dict[str, ast.AST] | None = None) -> list[ast.AST]:
    """The nodes of `stmts` and of the same-module helpers they call (a few levels deep),
    also through the names in `wrapped` (`grad_fn` -> the function it transforms)."""
    seen: set[ast.AST] = set()
    nodes = list(walk(stmts))
    frontier = nodes
    wrapped = wrapped or {}
    for _ in range(HELPER_DEPTH):
        helpers = {h for c in calls(frontier) if (h := helper_of(source, c) or (
            wrapped.get(c.func.id) if isinstance(c.func, ast.Name) else None)) and h not in seen}
        seen |= helpers
        frontier = [n for h in helpers for n in body_nodes(source, h)]
        nodes.extend(frontier)
    return nodes


def assigned(node: ast.AST) -> Iterator[str]:
    """Names bound by an assignment target (through tuples and starred)."""
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, (ast.Tuple, ast.List)):
        for element in node.elts:
            yield from assigned(element)
    elif isinstance(node, ast.Starred):
        yield from assigned(node.value)


def bound(node: ast.AST) -> set[str]:
    """Names one statement binds: `x = ...`, `x += ...`, `x: T = ...`, `for x in ...`."""
    if isinstance(node, ast.Assign):
        return {n for t in node.targets for n in assigned(t)}
    if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
        return set(assigned(node.target))
    return set()


def addends(node: ast.AST) -> list[ast.AST]:
    """The terms of `a + b - c` (one term for anything else)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return addends(node.left) + addends(node.right)
    return [node]


BLOCKS = ("body", "orelse", "finalbody")
# The node types that hold statement lists, looked up in the module's index (an `ast.walk`
# of every node of every file that says "loss" was a tenth of linting the three packages).
HOLDERS = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For,
           ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try,
           *((ast.TryStar,) if hasattr(ast, "TryStar") else ()), ast.ExceptHandler,
           ast.match_case)


def statement_lists(source: SourceFile, fields: tuple[str, ...] = BLOCKS
                    ) -> Iterator[tuple[ast.AST, list[ast.stmt]]]:
    """(holder, list) for every statement list of two or more statements in the module's
    `fields` of its nodes (MLX211, MLX216, MLX218)."""
    for node in source.of_type(*HOLDERS):
        for field in fields:
            block = getattr(node, field, None)
            if isinstance(block, list) and len(block) > 1:
                yield node, block


def none_compared(node: ast.AST, ops: tuple[type, ...]) -> ast.AST | None:
    """The left side of `x is None` (`ops` holding `ast.Is`) or `x is not None` (`ast.IsNot`),
    a comparison of one operator; else None."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ops) \
            and isinstance(node.comparators[0], ast.Constant) \
            and node.comparators[0].value is None:
        return node.left
    return None


def none_tested(test: ast.AST, ops: tuple[type, ...]) -> str | None:
    """The plain name of `x is None` / `x is not None` (per `ops`) when it is the test or
    one of the conditions and-ed in it."""
    operands = test.values if isinstance(test, ast.BoolOp) and isinstance(
        test.op, ast.And) else [test]
    for operand in operands:
        left = none_compared(operand, ops)
        if isinstance(left, ast.Name):
            return left.id
    return None


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in descendants(node) if isinstance(n, ast.Name)}


def pairs(target: ast.AST, value: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
    """(target, value) pairs of an assignment, matching `a, b = x, y` element by element."""
    both = (ast.Tuple, ast.List)
    if isinstance(target, both) and isinstance(value, both) and len(target.elts) == len(
            value.elts):
        for t, v in zip(target.elts, value.elts):
            yield from pairs(t, v)
    else:
        yield target, value


def assignments(nodes: Iterable[ast.AST]) -> Iterator[tuple[ast.AST, ast.AST]]:
    """(target, value) of every `=` among `nodes`, tuples matched element-wise."""
    for node in nodes:
        kind = type(node)
        if kind is ast.Assign:
            for target in node.targets:
                yield from pairs(target, node.value)
        elif kind is ast.AnnAssign and node.value is not None:
            yield node.target, node.value


def name_bindings(found: Iterable[tuple[ast.AST, ast.AST]]) -> dict[str, ast.AST]:
    """The last value bound to each plain name among `(target, value)` pairs."""
    return {t.id: v for t, v in found if isinstance(t, ast.Name)}


def attributes_bound_only(source: SourceFile, cls: ast.ClassDef,
                          test: Callable[[ast.AST, ast.AST], bool]) -> set[str]:
    """`self.x` attributes (as `x`) every one of whose bindings in the methods of `cls`
    passes `test(method, value)`: `bound_only` for a class's attributes."""
    every: dict[str, bool] = {}
    for method in cls.body:
        if isinstance(method, FUNCTIONS):
            for target, value in body_assignments(source, method):
                name = self_attr(target)
                if name:
                    every[name] = every.get(name, True) and test(method, value)
    return {name for name, passed in every.items() if passed}


def in_reach(source: SourceFile, key: str, scope: ast.AST, cls: ast.ClassDef | None,
             names: Callable[[SourceFile, ast.AST], set[str]],
             attributes: Callable[[SourceFile, ast.ClassDef], set[str]]) -> set[str]:
    """`names(source, scope)` and, within a class, `attributes(source, cls)` (`.x` names):
    what a node in `scope` can read, each set computed once per module under `key`."""
    found = source.cached(key, scope, lambda: names(source, scope))
    if cls is None:
        return found
    return found | source.cached(key + "_attrs", cls, lambda: attributes(source, cls))


def bound_only(pairs: Iterable[tuple[ast.AST, ast.AST]],
               test: Callable[[ast.AST], bool]) -> set[str]:
    """Plain names every one of whose bindings among `pairs` (target, value) passes `test`
    (`DECAY = 0.9` and nothing else: a module constant; `d = a - b` only: a difference)."""
    every: dict[str, bool] = {}
    for target, value in pairs:
        if isinstance(target, ast.Name):
            every[target.id] = every.get(target.id, True) and test(value)
    return {name for name, passed in every.items() if passed}


def starred(call: ast.Call) -> bool:
    """The call unpacks arguments (`f(*args)`, `f(**kwargs)`): how many it gets is unknown."""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords)


def is_inside(source: SourceFile, node: ast.AST, holder: ast.AST | None) -> bool:
    """`holder` is `node` or one of its ancestors."""
    while node is not None and node is not holder:
        node = source.parents.get(node)
    return node is not None


def arguments(function: ast.AST) -> set[str]:
    """The names of a def's or lambda's arguments (positional-only, positional, keyword-only)."""
    args = getattr(function, "args", None)
    return {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)} if args else set()


def defaults(function: ast.AST) -> dict[str, ast.AST]:
    """Each parameter's default value, by name (parameters without one left out)."""
    args = function.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    found = dict(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    found.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d})
    return found


# Methods run with `self` filled in by the call itself: a layer's forward, a construction.
SELF_IMPLIED = ("__call__", "__init__")


def bound_arguments(helper: ast.AST, call: ast.Call) -> dict[str, ast.AST | None]:
    """Each parameter's value at this call: the argument given, else its default; `self`
    of a method called as `self.f(...)`, of a layer's `__call__` run as `block(x)`, or of
    an `__init__` run by a construction `Trainer(model, args)`, is None (not judged)."""
    args = helper.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    values: dict[str, ast.AST | None] = dict(defaults(helper))
    if positional[:1] == ["self"] and (isinstance(call.func, ast.Attribute)
                                       or getattr(helper, "name", "") in SELF_IMPLIED):
        positional = positional[1:]
        values["self"] = None
    values.update(zip(positional, call.args))
    values.update({k.arg: k.value for k in call.keywords if k.arg})
    return values


def scope_nodes(source: SourceFile, scope: ast.AST) -> list[ast.AST]:
    """The nodes a function runs, or the module's top-level code (its functions apart),
    computed once per scope (`body_nodes`)."""
    return body_nodes(source, scope)


def local_values(source: SourceFile, node: ast.AST, name: ast.AST) -> list[ast.AST]:
    """What a local name was bound to in the function around `node` (none for another
    expression): `logits = model(x)` for `logits`."""
    function = source.enclosing(node)
    if function is None or not isinstance(name, ast.Name):
        return []
    return name_values(source, name.id, function)


def name_values(source: SourceFile, name: str, scope: ast.AST | None) -> list[ast.AST]:
    """Every value `name` is bound to in `scope` (a function; the module's top-level code
    when None), in source order."""
    return list(scope_values(source, scope or source.tree).get(name, ()))


def scope_values(source: SourceFile, scope: ast.AST) -> dict[str, list[ast.AST]]:
    """Every value each plain name is bound to in `scope`, in source order (built once per
    scope: rules ask for hundreds of names in the same function)."""
    return source.cached("name_values", scope, lambda: values_by_name(
        body_assignments(source, scope)))


def values_by_name(found: Iterable[tuple[ast.AST, ast.AST]]) -> dict[str, list[ast.AST]]:
    """Every value bound to each plain name among `(target, value)` pairs, in order: built
    once per scope, as `name_values` is asked for hundreds of names in the same function."""
    out: dict[str, list[ast.AST]] = {}
    for target, value in found:
        if isinstance(target, ast.Name):
            out.setdefault(target.id, []).append(value)
    return out


def bound_only_to(source: SourceFile, node: ast.AST, scope: ast.AST | None, depth: int,
                  test: Callable[[ast.AST, int], bool]) -> bool:
    """`node` is a name that `scope` binds at least once, every value passing `test(value,
    depth - 1)`, while `depth` > 0: how the rules that follow a name to what it holds end
    (MLX231's dict, MLX234's path, MLX236's array of indices)."""
    if not isinstance(node, ast.Name) or depth <= 0:
        return False
    bound = name_values(source, node.id, scope)
    return bool(bound) and all(test(v, depth - 1) for v in bound)


def derived(body: list[ast.stmt], name: str, not_from: str | None = None) -> set[str]:
    """`name` and the local names bound (in source order) from values that read it, leaving
    out any value that also reads `not_from` (`parameter = parameter - lr * m` stays the
    parameter; a value read from the gradient is not). Each name a call's result unpacks
    into is bound from it (`pos, deltas = self.get_rope_index(inputs)`: fresh305
    `saffron_kiln_mrope`)."""
    made = {name}
    for target, value in assignments(walk(body)):
        read = names_in(value)
        if isinstance(target, (ast.Name, ast.Tuple)) and made & read and not_from not in read:
            made.update(assigned(target))
    return made


def init_attributes(cls: ast.ClassDef, test: Callable[[ast.AST], bool]) -> set[str]:
    """Public attributes the class's `__init__` binds (`self.x = value`) to a value `test`
    accepts."""
    init = method_of(cls, "__init__")
    return set() if init is None else {
        name for node in walk(init.body) if type(node) is ast.Assign and test(node.value)
        for name in (self_attr(t) for t in node.targets) if name and name[0] != "_"}


def self_attr(node: ast.AST) -> str | None:
    """`x` of `self.x`, else None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "self":
        return node.attr
    return None


def built_parts(scope: ast.AST) -> list[tuple[str, ast.Call]]:
    """(`x`, the call) of each `self.x = Call(...)` under `scope` (a class's `__init__`, a
    whole module), in walk order."""
    return [(a.targets[0].attr, a.value) for a in ast.walk(scope) if isinstance(a, ast.Assign)
            and len(a.targets) == 1 and self_attr(a.targets[0]) and isinstance(a.value, ast.Call)]


def between(source: SourceFile, node: ast.AST, stop: ast.AST | None,
            kinds: tuple[type, ...]) -> bool:
    """A node of one of `kinds` encloses `node` below `stop` (the whole tree when None)."""
    parent = source.parents.get(node)
    while parent is not None and parent is not stop:
        if isinstance(parent, kinds):
            return True
        parent = source.parents.get(parent)
    return False


def tested_apart(source: SourceFile, node: ast.AST, matches: Callable[[ast.AST], bool]) -> bool:
    """An enclosing test (an `if`, a `while`, a conditional, another operand of an
    `and`/`or`) holds a node `matches` accepts, outside `node` itself: a guard around it."""
    parent, child = source.parents.get(node), node
    while parent is not None and not isinstance(parent, (*FUNCTIONS, ast.ClassDef)):
        tests = [parent.test] if isinstance(parent, (ast.If, ast.While, ast.IfExp)) and \
            child is not parent.test else []
        if isinstance(parent, ast.BoolOp):
            tests = [v for v in parent.values if v is not child]
        if any(matches(n) for test in tests for n in ast.walk(test)):
            return True
        parent, child = source.parents.get(parent), parent
    return False
