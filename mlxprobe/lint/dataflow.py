"""Array dataflow over one module: which expressions hold MLX arrays, where arrays are
evaluated, which functions run under `mx.compile`/`mx.vmap`, a gradient transformation or
another thread, and what a loop updates and carries from one iteration to the next.

Job: the facts the flow rules (MLX014...) are stated on, computed once per module and cached
on the `SourceFile`; one pass over the nodes the index already holds (O(size of the file)).
Static and intra-module: a name bound from `mx.*`, from arithmetic or a slice of an array, or
from a value_and_grad function's call holds an array; what flows through another module's
function is unknown and never assumed to be an array.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from .flow import (
    assignments,
    body_assignments,
    body_nodes,
    bound_arguments,
    called_only,
    calls,
    helper_of,
    method_called_only,
    method_of,
    reach,
    self_attr,
    walk,
)
from .names import EVAL, MX_GRAD, NN_GRAD, dotted, last_name
from .source import FUNCTIONS, SourceFile, descendants

MLX = "mlx.core."
# mlx.core functions that do not return an array (or run one): never an array source.
NOT_ARRAYS = frozenset({"eval", "async_eval", "compile", "value_and_grad", "grad", "vmap", "vjp",
                        "jvp", "custom_function", "checkpoint", "stream", "new_stream",
                        "set_default_device", "set_default_stream", "default_device",
                        "default_stream", "synchronize", "save", "savez", "savez_compressed",
                        "save_safetensors", "save_gguf", "load", "disable_compile",
                        "enable_compile", "clear_cache", "finfo", "iinfo", "issubdtype",
                        "seed", "export_function", "import_function", "device_info",
                        "get_active_memory", "get_peak_memory", "get_cache_memory",
                        "reset_peak_memory", "set_memory_limit", "set_cache_limit",
                        "init", "is_available",  # mx.distributed: a Group, a bool
                        "metal_kernel", "cuda_kernel"})  # mx.fast: a kernel to call
MATERIALISE_METHODS = frozenset({"item", "tolist"})
NUMPY_COPIES = frozenset({"numpy.array", "numpy.asarray"})
COMPILE = frozenset({"mlx.core.compile"})
VMAP = frozenset({"mlx.core.vmap"})
TRANSFORMS_GRAD = MX_GRAD | NN_GRAD | {"mlx.core.vjp", "mlx.core.jvp"}
THREADS = frozenset({"threading.Thread"})
SUBMIT = frozenset({"submit", "apply_async", "run_in_executor"})
ARRAY_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult, ast.Pow, ast.FloorDiv)
COMPARISONS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
# mlx.nn functions that return an array (besides everything in mlx.nn.losses).
NN_ARRAYS = frozenset(f"mlx.nn.{name}" for name in (
    "log_softmax", "softmax", "sigmoid", "relu", "gelu", "silu", "tanh", "softplus",
    "log_sigmoid", "leaky_relu", "elu", "selu", "mish", "hardswish", "glu", "celu", "relu6",
    "softsign", "gelu_approx", "gelu_fast_approx", "prelu", "softmin", "hard_tanh"))


def is_mx_array_call(source: SourceFile, node: ast.AST) -> bool:
    """`mx.zeros(...)`, `mx.random.normal(...)`: an mlx.core function returning an array."""
    if not isinstance(node, ast.Call):
        return False
    name = source.imports.resolve(node.func) or ""
    return name.startswith(MLX) and name.rsplit(".", 1)[-1] not in NOT_ARRAYS


def holds_mx_call(source: SourceFile, node: ast.AST) -> bool:
    """The expression computes something with an mlx.core array function."""
    return any(is_mx_array_call(source, n) for n in descendants(node))


def evaluation(source: SourceFile, call: ast.Call) -> str | None:
    """What kind of evaluation a call is: "eval" (mx.eval/async_eval), "item" (`.item()`,
    `.tolist()`), "numpy" (`np.array(x)`); None when it evaluates nothing we can see."""
    resolved = source.imports.resolve(call.func)
    if resolved in EVAL:
        return "eval"
    if isinstance(call.func, ast.Attribute) and call.func.attr in MATERIALISE_METHODS:
        return "item" if not call.args else None
    if resolved in NUMPY_COPIES and call.args:
        return "numpy"
    return "item" if converts_a_result(source, call) else None


# Python's numeric conversions of one value, and the builtins whose result is already one.
CONVERSIONS = frozenset({"float", "int", "bool"})
PYTHON_VALUED = frozenset({"len", "sum", "min", "max", "round", "abs", "float", "int",
                           "getattr", "next"})


def converts_a_result(source: SourceFile, call: ast.Call) -> bool:
    """`float(loss_fn(params, x, y))`: a conversion to a Python number of what a call
    returns, the call neither a builtin nor NumPy's or `math`'s (fresh79
    typewriter_telegram_bf16_bpc: a validation loop that reads each chunk's loss with
    `float(...)` was called a loop that never evaluates anything, MLX014)."""
    if not (isinstance(call.func, ast.Name) and call.func.id in CONVERSIONS
            and len(call.args) == 1 and isinstance(call.args[0], ast.Call)):
        return False
    inner = call.args[0].func
    resolved = source.imports.resolve(inner) or ""
    return not (isinstance(inner, ast.Name) and inner.id in PYTHON_VALUED) and not \
        resolved.startswith(("numpy.", "math.", "statistics.", "random."))


def function_of(source: SourceFile, node: ast.AST) -> ast.AST | None:
    """The def or lambda a callable expression names: `f`, `self.f`, a lambda, and the
    function a `partial(f, ...)` binds arguments of."""
    if isinstance(node, ast.Lambda):
        return node
    if isinstance(node, ast.Call) and last_name(node.func) == "partial" and node.args:
        return function_of(source, node.args[0])
    if isinstance(node, ast.Name) and node.id in named_lambdas(source):
        return named_lambdas(source)[node.id]
    parts = dotted(node)
    if parts is None or len(parts) > 2 or (len(parts) == 2 and parts[0] != "self"):
        return None
    return source.local_function(parts[-1])


def named_lambdas(source: SourceFile) -> dict[str, ast.Lambda]:
    """Names bound to a lambda (`mse = lambda m, x, y: ...`), where that is their only
    binding in the module."""
    def make() -> dict[str, ast.Lambda]:
        found: dict[str, list[ast.AST]] = {}
        for target, value in assignments(source.of_type(ast.Assign)):
            if isinstance(target, ast.Name):
                found.setdefault(target.id, []).append(value)
        return {k: v[0] for k, v in found.items()
                if len(v) == 1 and isinstance(v[0], ast.Lambda) and k not in source.functions}
    return source.cached("named_lambdas", source.tree, make)


def transformed_arg(source: SourceFile, call: ast.Call) -> tuple[str, ast.AST] | None:
    """(kind, callable) when `call` transforms or starts a callable: mx.compile(f),
    mx.vmap(f), mx.value_and_grad(f), nn.value_and_grad(model, f), Thread(target=f),
    executor.submit(f, ...); `partial(mx.compile, inputs=...)(f)` as mx.compile(f)."""
    name = source.imports.resolve(partial_of(call.func) or call.func)
    if name in COMPILE | VMAP | MX_GRAD and call.args:
        return ("compile" if name in COMPILE else "vmap" if name in VMAP else "grad"), call.args[0]
    if name in NN_GRAD and len(call.args) > 1:
        return "grad", call.args[1]
    if name in THREADS or last_name(call.func) == "Thread":
        target = next((k.value for k in call.keywords if k.arg == "target"), None)
        return ("thread", target) if target is not None else None
    if last_name(call.func) in SUBMIT and call.args:
        return "thread", call.args[0]
    return None


def partial_of(node: ast.AST) -> ast.AST | None:
    """`mx.compile` in `partial(mx.compile, ...)`; None for anything else."""
    if isinstance(node, ast.Call) and last_name(node.func) == "partial" and node.args:
        return node.args[0]
    return None


def decorated_kind(source: SourceFile, decorator: ast.AST) -> str | None:
    """`@mx.compile`, `@partial(mx.compile, ...)`: the decorated function is compiled."""
    if isinstance(decorator, ast.Call):
        if source.imports.resolve(decorator.func) in COMPILE:
            return "compile"
        if last_name(decorator.func) == "partial" and decorator.args:
            decorator = decorator.args[0]
    resolved = source.imports.resolve(decorator)
    return "compile" if resolved in COMPILE else "vmap" if resolved in VMAP else None


def contexts(source: SourceFile) -> dict[ast.AST, set[str]]:
    """Each function (def or lambda) that runs transformed or threaded -> the kinds."""
    key = ("contexts", source.tree)
    if key in source.cache:
        return source.cache[key]
    found: dict[ast.AST, set[str]] = {}
    for function in source.of_type(*FUNCTIONS):
        for decorator in function.decorator_list:
            if kind := decorated_kind(source, decorator):
                found.setdefault(function, set()).add(kind)
    for call in source.of_type(ast.Call):
        given = transformed_arg(source, call)
        function = function_of(source, given[1]) if given else None
        if function is not None:
            found.setdefault(function, set()).add(given[0])
    for run in thread_runs(source):
        found.setdefault(run, set()).add("thread")
    source.cache[key] = found
    return found


def thread_runs(source: SourceFile) -> list[ast.AST]:
    """The `run` methods of the module's `threading.Thread` subclasses: what `start()` runs
    in the new thread."""
    return [f for c in source.of_type(ast.ClassDef) if any(
        last_name(b) == "Thread" for b in c.bases) for f in c.body
        if isinstance(f, FUNCTIONS) and f.name == "run"]


def under(source: SourceFile, kind: str) -> Iterator[tuple[ast.AST, list[ast.AST]]]:
    """(function, the nodes it runs: its body and its same-module helpers) per function run
    under `kind`."""
    for function, kinds in contexts(source).items():
        if kind in kinds:
            nodes = reach(source, _body(function), wrapped(source))
            for inner in _called_transformed(source, nodes):
                nodes = nodes + reach(source, _body(inner), wrapped(source))
            yield function, nodes


def _body(function: ast.AST) -> list[ast.AST]:
    return function.body if isinstance(function.body, list) else [function.body]


def _called_transformed(source: SourceFile, nodes: list[ast.AST]) -> list[ast.AST]:
    """The module's functions transformed and called in one expression among `nodes`:
    `nn.value_and_grad(model, orpo_loss)(model, x)` runs `orpo_loss`."""
    found = []
    for call in calls(nodes):
        given = transformed_arg(source, call.func) if isinstance(call.func, ast.Call) else None
        function = function_of(source, given[1]) if given and given[0] != "thread" else None
        if function is not None and function not in found:
            found.append(function)
    return found


def wrapped(source: SourceFile) -> dict[str, ast.AST]:
    """Names bound to a transformed same-module function -> that function: `grad_fn =
    nn.value_and_grad(model, loss_fn)`, `step = mx.compile(step_fn)` (calling the name runs
    the function)."""
    return {name: function for name, (_, function) in transformed(source).items()
            if function is not None}


def transformed(source: SourceFile) -> dict[str, tuple[str, ast.AST | None]]:
    """Names bound to a transformation's result -> (its kind, the same-module function it
    transforms, or None when that is not one of the module's own): `loss_and_grad =
    nn.value_and_grad(model, loss_fn)` -> ("grad", loss_fn)."""
    key = ("transformed", source.tree)
    if key not in source.cache:
        found: dict[str, tuple[str, ast.AST | None]] = {}
        for target, value in assignments(source.of_type(ast.Assign)):
            given = transformed_arg(source, value) if isinstance(value, ast.Call) else None
            if isinstance(target, (ast.Name, ast.Attribute)) and given and given[0] != "thread":
                # `grad_fn = ...`, and a trainer's `self.vg = nn.value_and_grad(...)`
                found[ast.unparse(target)] = (given[0], function_of(source, given[1]))
        source.cache[key] = found
    return source.cache[key]


def bound_arrays(source: SourceFile, target: ast.AST, value: ast.AST, arrays: set[str]) -> \
        list[str]:
    """The names an assignment binds to arrays: `x = <an array>`, and the loss of `loss,
    grads = loss_and_grad(...)` for a value_and_grad function."""
    if isinstance(target, ast.Name):
        return [target.id] if is_array(source, value, arrays) else []
    if isinstance(target, ast.Tuple) and target.elts and grad_call(source, value):
        head = target.elts[0]  # `loss, grads = ...` or `(loss, aux), grads = ...`
        names = [head] if isinstance(head, ast.Name) else getattr(head, "elts", [])
        return [n.id for n in names if isinstance(n, ast.Name)]
    if isinstance(target, ast.Tuple) and isinstance(value, ast.Call):
        return unpacked_arrays(source, target, value)
    return []


def unpacked_arrays(source: SourceFile, target: ast.Tuple, call: ast.Call) -> list[str]:
    """`a, b, c = helper(...)` for a same-module function: the names at the positions where
    every tuple it returns of that length holds an array (`ce, ntok, correct = loss_fn(...)`
    all three; `loss, n = f(...)` with `n = len(x)` only `loss`)."""
    helper = helper_of(source, call) or layer_forward(source, call)
    if helper is None or not all(isinstance(t, ast.Name) for t in target.elts):
        return []
    width = len(target.elts)
    tuples = [r.elts for r in returns_of(helper)
              if isinstance(r, ast.Tuple) and len(r.elts) == width]
    if not tuples:
        return []
    inner = arrays_in(source, helper)
    return [t.id for i, t in enumerate(target.elts)
            if all(is_array(source, r[i], inner) for r in tuples)]


def layer_forward(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The `__call__` a layer's `self.x(h)` runs, `x` made in `__init__` from one of the
    module's own classes (`layer_classes`): fresh305 `ferrule_cask_moe`, `topk_indices,
    topk_weights = self.router(h)` with the router's forward returning two arrays."""
    attr = self_attr(call.func)
    owner = source.enclosing(call, (ast.ClassDef,)) if attr is not None else None
    cls = layer_classes(source, owner).get(attr) if owner is not None else None
    return method_of(cls, "__call__") if cls is not None else None


def grad_call(source: SourceFile, value: ast.AST) -> bool:
    """A call of a value_and_grad function: `loss_and_grad(...)` for a name bound to one, or
    `nn.value_and_grad(model, f)(...)` inline."""
    if not isinstance(value, ast.Call):
        return False
    if isinstance(value.func, ast.Call):
        given = transformed_arg(source, value.func)
        return given is not None and given[0] == "grad"
    name = ast.unparse(value.func) if isinstance(value.func, (ast.Name, ast.Attribute)) else ""
    return transformed(source).get(name, ("", None))[0] == "grad"


def arrays_in(source: SourceFile, scope: ast.AST) -> set[str]:
    """Names a function (or the module) binds to arrays: from mlx.core calls, from arithmetic
    or slices of arrays, from calls of gradient functions; to a fixed point in source order."""
    key = ("arrays", scope)
    if key in source.cache:
        return source.cache[key]
    found: set[str] = set()
    source.cache[key] = found  # a recursive helper sees what is found so far
    found.update(passed_arrays(source, scope))
    grow(source, body_assignments(source, scope), found)
    return found


def passed_arrays(source: SourceFile, function: ast.AST) -> set[str]:
    """The parameters of a module function that every call of it in the module hands an
    array, positionally or by keyword (`train_epoch(model, opt, xtr, ytr)` with `xtr` from
    `mx.array`): none when the function is also used as a value (handed to `mx.compile`,
    `partial`, a thread), whose callers are then unknown. A method counts where every use of
    its name is a call that runs it (`stats.compute(kl, mask)`, stop 72: failure corpus
    fresh40 `distill_kl_mask_stats` indexed its `kl_per_token` parameter with a comparison)."""
    return passed_where(source, function, lambda call, value: is_array(
        source, value, arrays_in(source, source.enclosing(call) or source.tree)))


def passed_where(source: SourceFile, function: ast.AST,
                 gives: Callable[[ast.Call, ast.AST], bool], methods: bool = True) -> set[str]:
    """The positional parameters of a module function (with `methods`, also of a method
    every use of whose name runs it) that every call of it hands a value `gives` accepts
    (`gives(call, value)`); none when it is also used as a value, its callers unknown."""
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return set()
    sites = called_only(source, function) or (
        method_called_only(source, function) if methods else [])
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    passed = [_passed(function, call, names, gives) for call in sites]
    return set.intersection(*passed) if passed else set()


def _passed(function: ast.AST, call: ast.Call, names: list[str],
            gives: Callable[[ast.Call, ast.AST], bool]) -> set[str]:
    """The positional parameters `names` one call hands a value `gives` accepts."""
    if any(isinstance(a, ast.Starred) for a in call.args):
        return set()
    given = bound_arguments(function, call)
    return {name for name in names
            if given.get(name) is not None and gives(call, given[name])}


def grow(source: SourceFile, pairs: list[tuple[ast.AST, ast.AST]], found: set[str]) -> None:
    """Add to `found` the names `pairs` (a body's assignments) bind to arrays, given those
    already in it; a second pass for names used before their binding in the text."""
    for _ in range(2):
        for target, value in pairs:
            found.update(bound_arrays(source, target, value, found))


def is_array(source: SourceFile, node: ast.AST, arrays: set[str]) -> bool:
    """The expression is an MLX array, as far as this module shows."""
    if isinstance(node, ast.Name):
        return node.id in arrays
    if isinstance(node, ast.BinOp) and isinstance(node.op, ARRAY_OPS):
        return is_array(source, node.left, arrays) or is_array(source, node.right, arrays)
    if isinstance(node, ast.UnaryOp):
        return is_array(source, node.operand, arrays)
    if isinstance(node, ast.Subscript):  # a slice of an array, or an entry of mx.load(...)
        loaded = isinstance(node.value, ast.Call) and source.imports.resolve(
            node.value.func) == "mlx.core.load"
        return loaded or is_array(source, node.value, arrays)
    if isinstance(node, ast.Compare) and all(isinstance(o, COMPARISONS) for o in node.ops):
        return any(is_array(source, n, arrays) for n in (node.left, *node.comparators))
    return isinstance(node, ast.Call) and gives_array(source, node, arrays)


def gives_array(source: SourceFile, call: ast.Call, arrays: set[str]) -> bool:
    """An mlx.core array function, an array method (`x.mean()`, not `.item()`), an
    `mlx.nn` loss or activation, or a same-module function that returns an array."""
    if is_mx_array_call(source, call):
        return True
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr not in MATERIALISE_METHODS and is_array(
            source, func.value, arrays):
        return True
    name = source.imports.resolve(func) or ""
    if name.startswith("mlx.nn.losses.") or name in NN_ARRAYS:
        return True
    if isinstance(func, ast.Name) and func.id in module_instances(source):
        return True  # `model(x)`: a forward pass
    helper = helper_of(source, call) or compiled(source, call)
    return helper is not None and returns_array(source, helper)


def module_instances(source: SourceFile) -> set[str]:
    """Names bound (anywhere in the module) to an `mlx.nn` layer or to an instance of the
    module's own classes deriving from one: `model = MLP(...)`, `head = nn.Linear(4, 2)`,
    `model, opt = build()` with the module's own `build` returning one first."""
    key = ("module_instances", source.tree)
    if key not in source.cache:
        classes = {c.name for c in module_classes(source)}
        source.cache[key] = {
            t.id for t, v in helper_assignments(source, source.of_type(ast.Assign))
            if isinstance(t, ast.Name) and isinstance(v, ast.Call) and layer_call(
                source, v, classes)}
    return source.cache[key]


def helper_assignments(source: SourceFile, nodes: list[ast.AST]) -> \
        Iterator[tuple[ast.AST, ast.AST]]:
    """`assignments(nodes)`, with `a, b = helper(...)` (the module's own function returning a
    tuple of that size) matched element-wise to what the helper returns: `(model, w)` for
    `return model, w`, each name followed to its bindings in the helper."""
    for target, value in assignments(nodes):
        yield target, value
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Call):
            for index, element in enumerate(target.elts):
                for returned in returned_at(source, value, index, len(target.elts)):
                    yield element, returned


def returned_at(source: SourceFile, call: ast.Call, index: int, size: int) -> list[ast.AST]:
    """What the helper `call` runs returns at position `index` of a `size`-tuple; a name the
    helper binds is followed to its values there."""
    helper = helper_of(source, call)
    if helper is None or isinstance(helper, ast.Lambda):
        return []
    found = [r.elts[index] for r in returns_of(helper)
             if isinstance(r, ast.Tuple) and len(r.elts) == size]
    bound = body_assignments(source, helper)
    return [v for f in found for v in (
        [v for t, v in bound if isinstance(t, ast.Name) and t.id == f.id]
        if isinstance(f, ast.Name) else [f])]


def layer_call(source: SourceFile, call: ast.Call, classes: set[str]) -> bool:
    """`nn.Linear(...)`, `nn.Sequential(...)`, `MyModel(...)`: a Module is built."""
    if isinstance(call.func, ast.Name) and call.func.id in classes:
        return True
    name = source.imports.resolve(call.func) or ""
    return name.startswith("mlx.nn.") and name.rsplit(".", 1)[-1][:1].isupper()


def compiled(source: SourceFile, call: ast.Call) -> ast.AST | None:
    """The module's own function a call of a compiled name runs (`step = mx.compile(f)`)."""
    if not isinstance(call.func, ast.Name):
        return None
    kind, function = transformed(source).get(call.func.id, ("", None))
    return function if kind == "compile" and not isinstance(function, ast.Lambda) else None


def returns_array(source: SourceFile, function: ast.AST) -> bool:
    """Some `return` of a same-module function gives an array (cached; recursion-safe)."""
    key = ("returns_array", function)
    if key not in source.cache:
        source.cache[key] = False  # a recursive call is not assumed to give an array
        arrays = arrays_in(source, function)
        source.cache[key] = any(is_array(source, r, arrays) for r in returns_of(function))
    return source.cache[key]


def array_dict(source: SourceFile, node: ast.AST, arrays: set[str]) -> bool:
    """A dict literal with an array among its values, or a same-module function's call that
    returns one (`metrics = compute_metrics(...)`)."""
    if isinstance(node, ast.Dict):
        return any(is_array(source, v, arrays) for v in node.values)
    helper = helper_of(source, node) if isinstance(node, ast.Call) else None
    if helper is None:
        return False
    inner = arrays_in(source, helper)
    return any(array_dict(source, r, inner) for r in returns_of(helper)
               if not isinstance(r, ast.Call))


def grad_functions(source: SourceFile) -> dict[str, ast.Call]:
    """Names (and `self.x` attributes, keyed as written) bound to `mx.value_and_grad(f, ...)`/
    `mx.grad(...)` -> the transforming call."""
    key = ("grad_functions", source.tree)
    if key not in source.cache:
        source.cache[key] = {
            ".".join(parts): v for t, v in assignments(source.of_type(ast.Assign))
            if (parts := dotted(t)) is not None and (len(parts) == 1 or parts[0] == "self")
            and isinstance(v, ast.Call) and source.imports.resolve(v.func) in MX_GRAD}
    return source.cache[key]


def conditional(source: SourceFile, node: ast.AST, loop: ast.AST) -> bool:
    """`node` runs only on some iterations of `loop`: under an `if`, a `try` handler or
    a nested loop's `else`, between the node and the loop."""
    parent = source.parents.get(node)
    while parent is not None and parent is not loop:
        if isinstance(parent, (ast.If, ast.IfExp, ast.ExceptHandler, ast.Match)):
            return True
        parent = source.parents.get(parent)
    return False


def evaluates_each_step(source: SourceFile, loop: ast.AST, nodes: list[ast.AST]) -> bool:
    """Something in the loop evaluates arrays: an `mx.eval`/`mx.async_eval` anywhere in it
    (a chosen cadence), or an `.item()`/`np.array(...)` that runs at every iteration."""
    for call in calls(nodes):
        kind = evaluation(source, call)
        if kind == "eval" or (kind and not conditional(source, call, loop)):
            return True
    return False


def unused_after(nodes: list[ast.AST], name: str, bound: ast.AST) -> bool:
    """`name` is never read among `nodes` (other than in the binding `bound` itself)."""
    inside = set(descendants(bound))
    return not any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
                   and n not in inside for n in nodes)


def returns_of(function: ast.AST) -> list[ast.AST]:
    if isinstance(function, ast.Lambda):
        return [function.body]
    return [n.value for n in walk(function.body) if isinstance(n, ast.Return) and n.value]


def layer_attributes(source: SourceFile) -> set[str]:
    """`self.x` attributes the module's own nn.Module classes bind to a layer or a list of
    layers (`self.head = nn.Linear(...)`, `self.blocks = [Block() for _ in range(4)]`)."""
    key = ("layer_attributes", source.tree)
    if key not in source.cache:
        classes = module_classes(source)
        names = {c.name for c in classes}
        source.cache[key] = {t.attr for c in classes for t, v in assignments(descendants(c))
                             if isinstance(t, ast.Attribute) and _layers(source, v, names)}
    return source.cache[key]


def _layers(source: SourceFile, value: ast.AST, classes: set[str]) -> bool:
    """A layer call, or a list (or comprehension) of them."""
    if isinstance(value, ast.Call):
        return layer_call(source, value, classes)
    if isinstance(value, ast.List):
        return any(_layers(source, e, classes) for e in value.elts)
    if isinstance(value, ast.ListComp):
        return _layers(source, value.elt, classes)
    return False


def layer_classes(source: SourceFile, cls: ast.ClassDef) -> dict[str, ast.ClassDef]:
    """`self.x = Layer(...)` and `self.x = [Layer(...), ...]` (or a comprehension of them)
    in a class's `__init__`, for the module's own classes: attribute -> the class (computed
    once per class; `layer_attributes` asks only whether an attribute holds a layer)."""
    def make() -> dict[str, ast.ClassDef]:
        init = method_of(cls, "__init__")
        classes = {c.name: c for c in source.of_type(ast.ClassDef)}
        found: dict[str, ast.ClassDef] = {}
        for node in body_nodes(source, init) if init is not None else []:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and (
                    attr := self_attr(node.targets[0])) and (made := _made(node.value, classes)):
                found[attr] = made
        return found
    return source.cached("layer_classes", cls, make)


def _made(value: ast.AST, classes: dict[str, ast.ClassDef]) -> ast.ClassDef | None:
    """The module class `Layer(...)`, `[Layer(...), ...]` or `[Layer() for _ in ...]` makes
    (the first element stands for a list, as `_layers` reads one)."""
    if isinstance(value, (ast.List, ast.Tuple)) and value.elts:
        value = value.elts[0]
    elif isinstance(value, ast.ListComp):
        value = value.elt
    func = value.func if isinstance(value, ast.Call) else None
    return classes.get(func.id) if isinstance(func, ast.Name) else None


def module_classes(source: SourceFile) -> list[ast.ClassDef]:
    """The module's classes deriving from an `mlx.nn` class (computed once per module)."""
    return source.cached("module_classes", source.tree, lambda: [
        c for c in source.of_type(ast.ClassDef)
        if any((source.imports.resolve(b) or "").startswith("mlx.nn.") for b in c.bases)])


def forwards(source: SourceFile) -> list[ast.AST]:
    """The module classes' `__call__` methods and the differentiated functions (computed
    once per module: rules ask it per call)."""
    def make() -> list[ast.AST]:
        found = [f for c in module_classes(source) for f in c.body
                 if isinstance(f, FUNCTIONS) and f.name == "__call__"]
        found += [f for f, kinds in contexts(source).items()
                  if "grad" in kinds and f not in found]
        callees = (lambda_callee(source, f) for f in found)
        return found + list(dict.fromkeys(c for c in callees if c is not None and c not in found))
    return source.cached("forwards", source.tree, make)


def lambda_callee(source: SourceFile, function: ast.AST) -> ast.AST | None:
    """The module's function a differentiated lambda only calls (`nn.value_and_grad(gen,
    lambda g, mel, y: g_loss_fn(g, disc, mel, y))`: fresh255 `chorister_sibilant_hifigan`)."""
    if not isinstance(function, ast.Lambda) or not isinstance(function.body, ast.Call):
        return None
    helper = helper_of(source, function.body)
    return None if helper is None or isinstance(helper, ast.Lambda) else helper


def layer_output(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST],
                 depth: int = 2) -> bool:
    """`node` holds a layer's output: a call of a `self.<layer>` or of a module instance,
    directly or through a local name bound to one (`depth` names deep)."""
    for part in descendants(node):
        if isinstance(part, ast.Call) and layer_applied(source, part):
            return True
        if depth and isinstance(part, ast.Name) and part.id in bound and layer_output(
                source, bound[part.id], bound, depth - 1):
            return True
    return False


def layer_applied(source: SourceFile, call: ast.Call) -> bool:
    """`self.feat(x)` (a layer attribute) or `encoder(x)` (a module instance)."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id == "self" and func.attr in layer_attributes(source)
    return isinstance(func, ast.Name) and func.id in module_instances(source)
