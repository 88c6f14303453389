"""Rules about numerics a loss can lose to its dtype, stated on local dataflow: MLX022 (the log
of a probability from sigmoid or softmax, or of an exp: -inf, then NaN gradients, once it
saturates),
MLX025 (parameters trained in float16, whose range ends at 65504), MLX028 (a division by a
standard deviation, or an rsqrt of a mean square, computed at every training step or in the
differentiated forward pass, with no epsilon: 0/0 once the values are all equal or zero).

Job: find losses that go non-finite on confident predictions while a fused form would not.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..dataflow import contexts, forwards, returns_of, wrapped
from ..finding import Finding
from ..flow import (
    assignments,
    callee,
    calls,
    instances,
    method_of,
    name_bindings,
    names_in,
    reach,
    scope_values,
    walk,
)
from ..names import last_name
from ..source import LOOPS, SourceFile, descendants
from .adapters import freezes_all
from .base import TRAINS, Rule, trains
from .differentiation import differentiated_nodes
from .evaluation import is_optimizer_update, step_outputs
from .reduction import last_bindings

LOGS = frozenset({"mlx.core.log", "mlx.core.log2", "mlx.core.log10"})
# losses that take the log of their input as given: a probability passed where they could
# take the logit (`with_logits=True`) is logged inside them
LOG_LOSSES = frozenset({"mlx.nn.losses.binary_cross_entropy"})
SIGMOID = frozenset({"mlx.core.sigmoid", "mlx.nn.sigmoid"})
SOFTMAX = frozenset({"mlx.core.softmax", "mlx.nn.softmax"})
# `mx.log(mx.exp(x - x_max))` is x - x_max where exp does not underflow: a hand-written
# log-softmax that logs its exponentials (`mx.log(x_exp) - mx.log(x_exp.sum())`) is -inf for
# a class 88 below the row's max and its gradient NaN (fresh260 `quarry_gravel_moe_logits`,
# simple_moe 7c0e913: the loss inf in the first epoch, every parameter NaN from the second)
EXP = frozenset({"mlx.core.exp"})
DEPTH = 2
# methods that keep a probability one (`mx.sigmoid(z).squeeze(-1)`)
SHAPES = frozenset({"squeeze", "reshape", "flatten", "astype", "expand_dims"})


class LogOfProbability(Rule):
    """MLX022: `mx.log(p)` or `mx.log(1 - p)` with `p = mx.sigmoid(z)` or `mx.exp(x - x_max)`
    (or a softmax, in a loss), or p handed to a loss that logs it (`binary_cross_entropy(p, y,
    with_logits=False)`): p rounds to exactly 0 or 1 in float32 and the log is -inf."""

    id = "MLX022"
    anchors = ("sigmoid(", "softmax(", "exp(")
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("log(" in text or "with_logits=False" in text) and (
            "sigmoid(" in text or "softmax(" in text or "exp(" in text and "max(" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if not call.args or not self._logs(source, call):
                continue
            function = source.enclosing(call)
            kinds = SIGMOID | EXP | (SOFTMAX if self._in_loss(source, function) else frozenset())
            values = scope_values(source, function) if function else {}
            if self._probability(source, call.args[0], values, kinds, DEPTH):
                yield self.hit(source, call)

    @staticmethod
    def _logs(source: SourceFile, call: ast.Call) -> bool:
        """`call` takes the log of its first argument: `mx.log(...)`, or a loss told its
        input is a probability (`with_logits=False`)."""
        name = source.imports.resolve(call.func)
        return name in LOGS or name in LOG_LOSSES and any(
            k.arg == "with_logits" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in call.keywords)

    def _in_loss(self, source: SourceFile, function: ast.AST | None) -> bool:
        """A loss, a differentiated function, or a module's forward (`__call__` of one of the
        file's nn.Module classes: a GAT head returning `mx.log(mx.softmax(x))`, fresh32
        `gat_cora_like`, NaN from epoch 42 once a non-target class underflowed to 0)."""
        return function is not None and ("loss" in function.name.lower()
                                         or "grad" in contexts(source).get(function, ())
                                         or function in forwards(source))

    def _probability(self, source: SourceFile, node: ast.AST, values: dict[str, list],
                     kinds: frozenset[str], depth: int) -> bool:
        """`node` is p or `c - p` for p a sigmoid/softmax output (through local names)."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(
                node.left, ast.Constant):
            node = node.right
        if isinstance(node, ast.Call):
            name = source.imports.resolve(node.func)
            if name in EXP:
                return name in kinds and bool(node.args) and max_shifted(
                    source, node.args[0], values)
            if name in kinds:
                return not (name in SIGMOID and node.args and learned_scalar(node.args[0]))
            if isinstance(node.func, ast.Attribute) and node.func.attr in SHAPES:
                return self._probability(source, node.func.value, values, kinds, depth)
            return bool(depth) and self._model_output(source, node, kinds, depth - 1)
        if isinstance(node, ast.Name) and depth and len(values.get(node.id, [])) == 1:
            return self._probability(source, values[node.id][0], values, kinds, depth - 1)
        return False

    def _model_output(self, source: SourceFile, call: ast.Call, kinds: frozenset[str],
                      depth: int) -> bool:
        """`call` runs an instance of one of the file's classes (`p = model(feats)`) whose
        `__call__` returns a probability at each of its returns (lintheld3
        `b3_sigmoid_prob_bce`: `return core.sigmoid(self.tower(feats)).squeeze(-1)`, then
        `core.log(p)` and `core.log(1.0 - p)` in the loss)."""
        cls = instances(source).get(call.func.id) if isinstance(call.func, ast.Name) else None
        forward = method_of(cls, "__call__") if cls is not None else None
        if forward is None:
            return False
        values = scope_values(source, forward)
        returned = returns_of(forward)
        return bool(returned) and all(
            self._probability(source, r, values, kinds, depth) for r in returned)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool] | None:
        """The blocks `may_fire` accepts; the whole module where a forward may return a
        sigmoid (`def __call__` beside `sigmoid(`), which a loss elsewhere may log."""
        return None if "def __call__" in text and "sigmoid(" in text else cls.may_fire


def max_shifted(source: SourceFile, node: ast.AST, values: dict[str, list]) -> bool:
    """`x - x_max` with `x_max` a max reduction (`mx.max(x, ...)`, `x.max(...)`, directly or
    through one local name): a softmax's numerator, <= 1 and 0 for a class far below the max.
    The exp of a learned log-scale (`k = mx.exp(log_k)`, then `mx.log(k)`) or of a small
    log-ratio is left alone: its log is finite over any range a run reaches."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)):
        return False
    right = node.right
    if isinstance(right, ast.Name) and len(values.get(right.id, [])) == 1:
        right = values[right.id][0]
    return isinstance(right, ast.Call) and (
        source.imports.resolve(right.func) == "mlx.core.max"
        or isinstance(right.func, ast.Attribute) and right.func.attr == "max")


def learned_scalar(node: ast.AST) -> bool:
    """An expression of the module's own attributes and constants alone, with no call
    (`self.g1`, `-self.gamma_max`): a learned scalar or a schedule's end point, not a
    prediction. Its sigmoid is 0 only past -88 and 1 only past +17, which a learned scalar
    reaches only after thousands of updates pushing one way (Adam moves it <= the learning
    rate a step); a prediction's logit gets there from one confident example (fresh296
    `gnomon_tip_vdm`, correct: a VDM's prior term `mx.log(mx.sigmoid(self.g1))`, g1 = 6)."""
    parts = list(ast.walk(node))
    return not any(isinstance(n, ast.Call) for n in parts) and any(
        isinstance(n, ast.Attribute) for n in parts) and all(
        n.id == "self" for n in parts if isinstance(n, ast.Name))


FLOAT16 = "mlx.core.float16"


def module_constants(source: SourceFile) -> dict[str, ast.AST]:
    """Module-level `NAME = value` bindings (the last one wins)."""
    return name_bindings(assignments(source.tree.body))


def trained_models(source: SourceFile) -> set[str]:
    """What optimizer updates step (`opt.update(model, g)`: "model"), as source text."""
    updates = (c for c in source.of_type(ast.Call) if is_optimizer_update(source, c))
    return {ast.unparse(c.args[0] if c.args else c.keywords[0].value) for c in updates}


class HalfPrecisionTraining(Rule):
    """MLX025: `model.set_dtype(mx.float16)` (directly or through a module constant), or a
    `model.update` of its parameters cast with `.astype(mx.float16)` before the update that
    trains it, in a module that updates parameters with an optimizer: float16 (max 65504)
    with no loss scaling, where bfloat16 keeps float32's range. A module that reads
    `mx.finfo(mx.float16).max`, or `mx.finfo(dtype).min` of a dtype held in a name, guards
    the range itself (`range_guarded`): left alone."""

    id = "MLX025"
    anchors = ("set_dtype(", "astype(")

    @staticmethod
    def may_fire(text: str) -> bool:
        return "float16" in text and ("set_dtype(" in text or "astype(" in text) and trains(
            text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        trained = trained_models(source)
        if not trained or range_guarded(source):
            return
        constants = module_constants(source)
        for call in source.of_type(ast.Call):
            if cast_by_update(source, call, trained):
                yield self.hit(source, call)
            if last_name(call.func) != "set_dtype" or len(call.args) != 1:
                continue
            if ast.unparse(call.func.value) not in trained:
                continue  # a copy cast to float16 only to be saved is not trained
            dtype = call.args[0]
            if isinstance(dtype, ast.Name) and dtype.id in constants:
                dtype = constants[dtype.id]
            if source.imports.resolve(dtype) == FLOAT16 and not (
                    frozen_after(source, call) or recast_after(source, call)):
                yield self.hit(source, call)


def range_guarded(source: SourceFile) -> bool:
    """The module reads float16's range, `mx.finfo(mx.float16).max`, to keep values inside it
    (a clip of the residual sum: mlx-lm's Gemma fix for float16; fresh198
    `lanternfish_gemma_fp16_ok`), or its training dtype's, `mx.finfo(dtype).min` (a mask
    filled with the dtype's lowest value, not -1e9: fresh219 `causalfill_f16_cyclelm_ok`):
    the overflow MLX025 warns of is handled."""
    return any(isinstance(node, ast.Attribute) and node.attr in ("max", "min") and isinstance(
        node.value, ast.Call) and last_name(node.value.func) == "finfo" and node.value.args
        and source.imports.resolve(node.value.args[0]) in (FLOAT16, None)
        for node in source.of_type(ast.Attribute))


def cast_by_update(source: SourceFile, call: ast.Call, trained: set[str]) -> bool:
    """`model.update(tree_map(lambda a: a.astype(mx.float16), model.parameters()))` on a
    model an optimizer updates on a later line (a cast after training, to save a small
    checkpoint, is not trained: fresh50 `fp16_pulga_lm`'s fixed twin)."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "update" and len(call.args) == 1
            and isinstance(call.args[0], ast.Call) and call.args[0].args):
        return False
    model = ast.unparse(func.value)
    mapper = call.args[0].args[0]
    casts = isinstance(mapper, ast.Lambda) and any(
        isinstance(n, ast.Call) and last_name(n.func) == "astype" and n.args
        and source.imports.resolve(n.args[0]) == FLOAT16 for n in ast.walk(mapper.body))
    return casts and model in trained and not frozen_after(source, call) and any(
        is_optimizer_update(source, c) and c.lineno > call.lineno
        and ast.unparse(c.args[0] if c.args else c.keywords[0].value) == model
        for c in source.of_type(ast.Call))


def frozen_after(source: SourceFile, cast: ast.Call) -> bool:
    """The cast model is frozen whole (`model.freeze()`) later in the same function or
    top-level code, and not unfrozen after: its float16 weights are not trained, only what is
    attached after the freeze (fresh float32 adapters and heads; fresh33
    `vit_fp16_mlp_overflow`'s correct twin)."""
    model = ast.unparse(cast.func.value)
    later = [c for c in later_calls(source, cast) if ast.unparse(c.func.value) == model]
    froze = [c.lineno for c in later if freezes_all(c)]
    thawed = [c.lineno for c in later if c.func.attr == "unfreeze"]
    return bool(froze) and not any(at > min(froze) for at in thawed)


FLOAT32 = "mlx.core.float32"


def recast_after(source: SourceFile, cast: ast.Call) -> bool:
    """The cast model, or a part of it, is cast back to float32 later in the same function or
    top-level code (`model.decoder.set_dtype(mx.float32)`, `model.decoder.update(
    to_float32(model.decoder.parameters()))`): the float16 weights were a loaded
    checkpoint's, and what the program trains it made float32 itself (fresh158
    `dothraki_decoder_fp16`'s fixed twin, dothraki-asr b2f7ea0: the decoder recast, the
    float16 encoder frozen)."""
    model = ast.unparse(cast.func.value)
    return any((ast.unparse(c.func.value) + ".").startswith(model + ".")
               and to_float32(source, c) for c in later_calls(source, cast))


def later_calls(source: SourceFile, cast: ast.Call) -> list[ast.Call]:
    """Method calls (`x.freeze()`, `x.decoder.update(...)`) on lines after `cast`, in the same
    function or top-level code."""
    scope = source.enclosing(cast)
    return [c for c in source.of_type(ast.Call) if c.lineno > cast.lineno
            and isinstance(c.func, ast.Attribute) and source.enclosing(c) is scope]


def to_float32(source: SourceFile, call: ast.Call) -> bool:
    """`.set_dtype(mx.float32)`, or `.update(...)` of values cast with `.astype(mx.float32)`
    in its argument or in a same-module function its argument calls."""
    if call.func.attr == "set_dtype":
        return bool(call.args) and source.imports.resolve(call.args[0]) == FLOAT32
    if call.func.attr != "update" or len(call.args) != 1:
        return False
    helpers = [source.local_function(last_name(c.func) or "") for c in calls([call.args[0]])]
    nodes = [*descendants(call.args[0]), *(n for h in helpers if h is not None
                                           for n in descendants(h))]
    return any(isinstance(n, ast.Call) and last_name(n.func) == "astype" and n.args
               and source.imports.resolve(n.args[0]) == FLOAT32 for n in nodes)


STD = frozenset({"mlx.core.std"})
VAR = frozenset({"mlx.core.var"})
MEAN = frozenset({"mlx.core.mean"})
SQRT = frozenset({"mlx.core.sqrt"})
RSQRT = frozenset({"mlx.core.rsqrt"})
STD_DEPTH = 3


def subject(source: SourceFile, call: ast.Call, names: frozenset[str], method: str) -> \
        ast.AST | None:
    """X of `mx.<name>(X, ...)` or `X.<method>(...)`; None for any other call."""
    if source.imports.resolve(call.func) in names:
        return call.args[0] if call.args else None
    if isinstance(call.func, ast.Attribute) and call.func.attr == method and not (
            source.imports.resolve(call.func)):
        return call.func.value
    return None


def squared(node: ast.AST) -> bool:
    """`x ** 2`, `mx.square(x)`, `x.square()` or `x * x` somewhere in the expression."""
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) and isinstance(
        n.right, ast.Constant) and n.right.value == 2 or isinstance(n, ast.Call) and last_name(
        n.func) == "square" or self_product(n) for n in descendants(node))


def self_product(node: ast.AST) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and ast.unparse(
        node.left) == ast.unparse(node.right)


def variance(source: SourceFile, node: ast.AST) -> bool:
    """`mx.var(x)`, `x.var()`, or the mean of a square (`((x - m) ** 2).mean()`). A sum of
    squares (a squared L2 norm) is not one: the norm of a learned embedding is never 0 in
    practice, and CLIP-style `z / norm(z)` with no epsilon trains fine (fresh3)."""
    if not isinstance(node, ast.Call):
        return False
    if subject(source, node, VAR, "var") is not None:
        return True
    averaged = subject(source, node, MEAN, "mean")
    return averaged is not None and squared(averaged)


def deviation(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST], depth: int) -> bool:
    """`node` is a standard deviation with nothing added: `mx.std(x)`, `x.std()`,
    `mx.sqrt(<a variance>)`, through local names (`std + eps` is not one) and the module's
    own functions it calls, by what they return (fresh313 `ropewalk_breakload_resume`,
    correct: `stats.std()` of a running Welford statistic, `np.sqrt(self.m2 / max(n - 1,
    1))`, no group's spread of one step)."""
    if isinstance(node, ast.Name) and depth and node.id in bound:
        return deviation(source, bound[node.id], bound, depth - 1)
    if not isinstance(node, ast.Call):
        return False
    own = callee(source, node)
    if own is not None:  # the module's own `std()`: judged by what it returns
        return depth > 0 and any(deviation(source, r, {}, depth - 1) for r in returns_of(own))
    if subject(source, node, STD, "std") is not None:
        return True
    return source.imports.resolve(node.func) in SQRT and bool(node.args) and bare_variance(
        source, node.args[0], bound, depth)


def bare_variance(source: SourceFile, node: ast.AST, bound: dict[str, ast.AST],
                  depth: int) -> bool:
    """`node` is a variance or a mean square with nothing added, through local names."""
    if isinstance(node, ast.Name) and depth and node.id in bound:
        return bare_variance(source, bound[node.id], bound, depth - 1)
    return variance(source, node)


def before_loop(source: SourceFile, node: ast.BinOp, bound: dict[str, ast.AST]) -> bool:
    """`x / sd` in a loop, `sd` bound before the loop in the same function: one statistic of
    the whole data set (`mu, sd = X.mean(0), X.std(0)` then `(X[idx] - mu) / sd` per step),
    the same at every step, not a group's spread that a step can find all equal (fresh243
    `cloakroom_queue_stages`, correct: features standardised by their training-set std)."""
    value = bound.get(node.right.id) if isinstance(node.right, ast.Name) else None
    loop = source.enclosing(node, LOOPS)
    if value is None or loop is None or source.enclosing(loop) is not source.enclosing(node):
        return False
    return source.enclosing(value, LOOPS) is not loop and value.lineno < loop.lineno


def training_reach(source: SourceFile) -> list[ast.AST]:
    """What the module's training loops run (a gradient step or an optimizer update in the
    loop), through its helpers and the functions behind value_and_grad names (cached)."""
    return source.cached("training_reach", source.tree, lambda: loops_reach(source))


def loops_reach(source: SourceFile) -> list[ast.AST]:
    """What each loop that steps itself runs (`steps_itself`)."""
    found: dict[ast.AST, None] = {}
    reaches = {loop: reach(source, loop.body, wrapped(source))
               for loop in source.of_type(*LOOPS)}
    for nodes in reaches.values():
        if steps_itself(source, nodes, reaches):
            found.update(dict.fromkeys(nodes))
    return list(found)


def steps_itself(source: SourceFile, nodes: list[ast.AST],
                 reaches: dict[ast.AST, list[ast.AST]]) -> bool:
    """A gradient step or an optimizer update among what a loop runs outside the loops it
    runs: a loop over folds or seeds that calls a whole training run (`for k in folds:
    run_fold(k)`) runs each fold's data standardisation once, not at every step (fresh72
    `cheese_rind_kfold`: `(y[tr] - ym) / ys` on NumPy targets before the fold's training
    loop was called a step's division by a standard deviation)."""
    inner: set[ast.AST] = set()
    for node in nodes:
        if node in reaches:
            inner.update(reaches[node])
    own = [n for n in nodes if n not in inner]
    return applied(own, step_outputs(own)) or any(is_optimizer_update(source, c)
                                                   for c in calls(own))


APPLIES = frozenset({"tree_map", "update", "apply_gradients"})


def applied(nodes: list[ast.AST], outputs: set[str]) -> bool:
    """A gradient step's outputs handed to what applies them (`tree_map(lambda p, g: ...,
    params, grads)`, `model.update(...)`): a hand-written update. A gradient only inspected
    (`_, g0 = loss_and_grad(...)`, then `tree_flatten(g0)` to audit the leaves once per
    fold) is no step: fresh117 `lava_runout_kfold_gauss_nll`, whose fold loop's one-off
    audit made the fold's data standardisation a step's division by a standard deviation."""
    return any(last_name(c.func) in APPLIES and any(
        isinstance(a, ast.Name) and a.id in outputs for a in walk(c.args))
        for c in calls(nodes))


def negative(node: ast.AST) -> bool:
    """A negative constant exponent: `-0.5`."""
    return isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(
        node.operand, ast.Constant) or isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float)) and node.value < 0


def function_bindings(source: SourceFile, function: ast.AST | None) -> dict[str, ast.AST]:
    """`last_bindings` of a function's body (of nothing at module level), cached."""
    key = ("last_bindings", function)
    if key not in source.cache:  # a lambda's body is one expression: it binds nothing
        body = getattr(function, "body", None)
        source.cache[key] = last_bindings(body) if isinstance(body, list) else {}
    return source.cache[key]


def scheduled_only(source: SourceFile, function: ast.AST | None) -> bool:
    """Every call of the module's function `function` inside a loop lies under an `if` that
    tests the counter of a loop around the call (`if step in (stage_b - 1, total - 1):`, `if
    step % 40 == 0:`): it runs at chosen steps, an evaluation, not at every training step
    (fresh281 `hollowreed_mel_vocoder`, correct: a validation helper's `rms_p / rms_t`, run
    at two steps and after the loop)."""
    name = getattr(function, "name", None)
    sites = [c for c in source.of_type(ast.Call) if isinstance(c.func, ast.Name)
             and c.func.id == name and source.enclosing(c, LOOPS) is not None] if name else []
    return bool(sites) and all(counter_tested(source, c) for c in sites)


def counter_tested(source: SourceFile, node: ast.AST) -> bool:
    """An `if` around `node` whose test reads a name the target of a loop around it binds."""
    tests: list[ast.AST] = []
    parent = source.parents.get(node)
    while parent is not None and not isinstance(parent, (ast.FunctionDef, ast.Lambda)):
        if isinstance(parent, ast.If):
            tests.append(parent.test)
        elif isinstance(parent, (ast.For, ast.AsyncFor)) and any(
                names_in(parent.target) & names_in(t) for t in tests):
            return True
        parent = source.parents.get(parent)
    return False


class UnguardedStandardisation(Rule):
    """MLX028: code a training loop runs at every step, or the differentiated forward pass,
    divides by a standard deviation with no epsilon (`(r - r.mean()) / r.std()`) or scales
    by the rsqrt of a bare mean square (an RMSNorm without eps): a group of equal values, or
    an all-zero row, gives 0/0 = NaN."""

    id = "MLX028"
    anchors = TRAINS

    @staticmethod
    def may_fire(text: str) -> bool:
        return trains(text) and ("std(" in text or "sqrt(" in text)  # rsqrt( too

    def check(self, source: SourceFile) -> Iterator[Finding]:
        differentiated = set(differentiated_nodes(source))
        nodes = (*training_reach(source), *differentiated)
        for node in dict.fromkeys(n for n in nodes if self._candidate(source, n)):
            function = source.enclosing(node)
            if self._unguarded(source, node, function_bindings(source, function)) and (
                    node in differentiated or not scheduled_only(source, function)):
                yield self.hit(source, node)

    def _candidate(self, source: SourceFile, node: ast.AST) -> bool:
        """A division, a power, or an rsqrt call: what `_unguarded` reads."""
        if isinstance(node, ast.BinOp):
            return isinstance(node.op, (ast.Div, ast.Pow))
        return isinstance(node, ast.Call) and source.imports.resolve(node.func) in RSQRT

    def _unguarded(self, source: SourceFile, node: ast.AST, bound: dict[str, ast.AST]) -> bool:
        """`x / std`, `x * mx.rsqrt(mean_square)` or `mean_square ** -0.5`, no epsilon."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return negative(node.right) and bare_variance(source, node.left, bound, STD_DEPTH)
        if isinstance(node, ast.BinOp):
            return isinstance(node.op, ast.Div) and not before_loop(source, node, bound) \
                and deviation(source, node.right, bound, STD_DEPTH)
        return source.imports.resolve(node.func) in RSQRT and bool(node.args) and (
            bare_variance(source, node.args[0], bound, STD_DEPTH))
