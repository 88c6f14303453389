"""MLX178: a layer or model built inside a differentiated function (`model16 = Net()` in the
loss, to copy the weights into): the loss runs at every step, each layer built draws its
initial weights from MLX's global random key, and the drawn weights are replaced or dropped
unevaluated, so `mx.random.state` chains every draw of the run: memory grows at every step
until the process is killed (ml-explore/mlx#2711: the internal random state is updated by
every draw, used or not, and evaluating it later runs every split).

Measured (mlx 0.32.4 CPU, failure corpus fresh115 `ropeway_sag_nll_bf16`, a loss that built a
bf16 copy of its 4-layer model at every call): max RSS 58 / 69 / 90 / 133 MB at 600 / 1,200 /
2,400 / 4,800 steps (+17.6 KB a step), MLX's own memory flat; built once, 48 MB at 1,200 and
at 4,800 steps with the same losses. 20,000 `nn.Linear(48, 48)` built in a loop reach 107 MB,
21 MB with `mx.eval(mx.random.state)` after each.

Job: in each function run under `mx.grad`/`value_and_grad` (with the helpers it calls), a
call that builds an `mlx.nn` layer whose weights are drawn at random, or one of the module's
own `nn.Module` classes whose `__init__` builds one; and such a build anywhere that runs at
every pass of a loop (in it, or in a function called from it) whose next statement replaces
its weights (`m = Net(); m.update(params)`: the draws dropped unevaluated the same way,
fresh159 `turret_clock_rate_reptile_jsonl`), unless the function that builds it trains it
below in a loop of many passes (one build per training run); not when the file evaluates
`mx.random.state` anywhere.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import under
from ..finding import Finding
from ..flow import (
    assignments,
    calls,
    calls_by_name,
    method_of,
    reach,
)
from ..names import MX_GRAD, NN_GRAD
from ..source import LOOPS, SourceFile
from .base import DIFFERENTIATES, Rule
from .construction import module_classes
from .evaluation import bound_int, constant_passes, loop_reach, loop_trains

RANDOM_LAYERS = frozenset(f"mlx.nn.{name}" for name in (
    "Linear", "Bilinear", "Embedding", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "MultiHeadAttention", "RNN", "GRU", "LSTM",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "QuantizedLinear", "QuantizedEmbedding"))


def random_classes(source: SourceFile) -> set[str]:
    """The module's own nn.Module classes whose `__init__` builds a random layer."""
    found = set()
    for cls in module_classes(source):
        init = method_of(cls, "__init__")
        if init is not None and any(source.imports.resolve(c.func) in RANDOM_LAYERS
                                    for c in calls(reach(source, init.body))):
            found.add(cls.name)
    return found


def builds_random(source: SourceFile, call: ast.Call, local: set[str]) -> bool:
    """`call` builds a layer whose weights are drawn at random."""
    return source.imports.resolve(call.func) in RANDOM_LAYERS or (
        isinstance(call.func, ast.Name) and call.func.id in local)


class ModuleBuiltPerStep(Rule):
    """MLX178: `model16 = Net()` inside the differentiated loss: a random draw per step."""

    id = "MLX178"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and "random.state" not in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        local = random_classes(source)
        seen: set[int] = set()
        for _, nodes in under(source, "grad"):
            seen.update(id(c) for c in calls(nodes) if builds_random(source, c, local))
        replaced = (c for c in source.of_type(ast.Call) if builds_random(source, c, local)
                    and replaced_at_once(source, c) and repeated(source, c)
                    and in_training_loop(source, c) and not trained_per_build(source, c))
        seen.update(id(c) for c in replaced)
        for call in source.of_type(ast.Call):
            if id(call) in seen:
                yield self.hit(source, call)


def replaced_at_once(source: SourceFile, call: ast.Call) -> bool:
    """`m = Net()` whose next statement replaces its weights (`m.update(params)`,
    `m.load_weights(path)`): the weights drawn for it are dropped unevaluated (fresh159
    `turret_clock_rate_reptile_jsonl`: `learner = RateNet(); learner.update(copy of the
    meta-weights)` at every Reptile task, RSS +8.5 MB per 1,000 tasks, MLX's own memory
    flat; flat with `mx.eval(mx.random.state)` after each)."""
    statement = source.parents.get(call)
    body = getattr(source.parents.get(statement), "body", None)
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name) and isinstance(body, list)
            and statement in body and body.index(statement) + 1 < len(body)):
        return False
    after = body[body.index(statement) + 1]
    func = after.value.func if isinstance(after, ast.Expr) and isinstance(
        after.value, ast.Call) else None
    return isinstance(func, ast.Attribute) and func.attr in REPLACES and isinstance(
        func.value, ast.Name) and func.value.id == statement.targets[0].id


def trained_per_build(source: SourceFile, call: ast.Call) -> bool:
    """The function that builds the model trains it below the build in a loop of many
    passes (a data set's batches, an unknown count): one build per training run, a draw
    dropped per run and not per step (fresh255 `creamery_yield_fedprox_resume`, correct: a
    federated client model per farm and round, trained for two epochs over its farm's
    batches). Reptile's few inner steps per task (`range(6)`) leave a build per few steps."""
    function = source.enclosing(call)
    return function is not None and any(
        isinstance(loop, (ast.For, ast.While)) and loop.lineno > call.lineno
        and loop_trains(source, loop) and many(source, loop) for loop in ast.walk(function))


REPLACES = frozenset({"update", "load_weights"})
FEW = 64  # passes of a loop over a literal or a constant range that leave no leak to speak of


def many(source: SourceFile, loop: ast.AST | None) -> bool:
    """A loop that may run many times: not one over a literal (`literal_count`: a tuple,
    list, set or dict, its `.items()` too), or a constant
    `range(N)` with N <= FEW (fresh91 `reedbed_calls_ewc_twoheads`: two variants, each a
    model loaded from one checkpoint)."""
    if loop is None:
        return False
    count = constant_passes(source, loop)
    count = while_count(source, loop) if count is None else count
    return count is None or count > FEW


def while_count(source: SourceFile, loop: ast.AST) -> int | None:
    """The passes of `while n < N:` (or `<=`) whose body steps `n += 1`, N a constant
    (`bound_int`): at most N (fresh348 `pawnfield_puct_selfplay`, correct: `while gen <
    GENS:`, `GENS = 8` generations of self-play, each building the previous generation's
    net to play against)."""
    test = getattr(loop, "test", None)
    if not (isinstance(loop, ast.While) and isinstance(test, ast.Compare)
            and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Lt, ast.LtE))
            and isinstance(test.left, ast.Name)):
        return None
    stepped = any(isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Add)
                  and isinstance(n.target, ast.Name) and n.target.id == test.left.id
                  and isinstance(n.value, ast.Constant) and n.value.value == 1
                  for n in ast.walk(loop))
    bound = bound_int(source, test.comparators[0], list(source.of_type(ast.Assign)))
    if not stepped or bound is None:
        return None
    return bound + 1 if isinstance(test.ops[0], ast.LtE) else bound


def periodic(source: SourceFile, site: ast.AST) -> bool:
    """The call sits under an `if` of its loop whose test takes a remainder (`if step % 300
    == 0:`): it runs once every N passes, a handful of builds in a run (fresh199
    `spirometer_fev1_softsign_vjp_log`: a gradient audit that builds a copy of the model every
    300 steps); or one that compares the loop's own counter for equality (`if step ==
    ROUNDTRIP_AT:`): once in the run (fresh222 `coaster_loop_gforce_bf16_roundtrip`, a
    checkpoint round trip into a new model at one step)."""
    loop = source.enclosing(site, LOOPS)
    node = source.parents.get(site)
    while node is not None and node is not loop:
        if isinstance(node, ast.If) and (any(isinstance(n, ast.BinOp) and isinstance(
                n.op, ast.Mod) for n in ast.walk(node.test)) or counted(node.test, loop)):
            return True
        node = source.parents.get(node)
    return False


def counted(test: ast.expr, loop: ast.AST | None) -> bool:
    """`test` is `counter == value` (either order) for the loop's counter: the name a `for`
    loop binds, or one its body steps (`step += 1` in a `while` loop: fresh234
    `sedge_folio_packed_lm`, `if step == SAVE_AT:`); or an `and` of such a test with others,
    which runs no more often (fresh276 `apiary_hum_svdd`, correct: `if ep == 20 and not
    resumed:`, a simulated restart into a new model)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(counted(value, loop) for value in test.values)
    return (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq) and any(
                isinstance(side, ast.Name) and side.id in counters(loop)
                for side in (test.left, test.comparators[0])))


def counters(loop: ast.AST | None) -> set[str]:
    target = getattr(loop, "target", None)
    stepped = {n.target.id for n in ast.walk(loop) if isinstance(n, ast.AugAssign)
               and isinstance(n.target, ast.Name)} if loop is not None else set()
    return stepped | ({target.id} if isinstance(target, ast.Name) else set())


def transform_names(source: SourceFile) -> set[str]:
    """Names the module binds to a gradient transformation (`vg = nn.value_and_grad(...)`),
    whatever they are called."""
    return source.cached("transform_names", source.tree, lambda: {
        t.id for t, v in assignments(source.of_type(ast.Assign)) if isinstance(t, ast.Name)
        and isinstance(v, ast.Call) and source.imports.resolve(v.func) in NN_GRAD | MX_GRAD})


def in_training_loop(source: SourceFile, node: ast.AST) -> bool:
    """`node` repeats with a loop that trains (a gradient step or an optimizer update in it
    or its helpers), directly or through the calls of its function (two deep): a loop that
    folds, exports and reloads a handful of trained models builds no leak per step (fresh234
    `hammock_bed_adapters`, one reload per fabric)."""
    loop = source.enclosing(node, LOOPS)
    if loop is not None:
        return loop_trains(source, loop) or any(
            isinstance(c.func, ast.Name) and c.func.id in transform_names(source)
            for c in calls(loop_reach(source, loop)))
    return any(in_training_loop(source, c) for sites in caller_sites(source, node)
               for c in sites if source.enclosing(c, LOOPS))


def repeated(source: SourceFile, node: ast.AST) -> bool:
    """`node` runs at every pass of a loop: inside one, or in a function the module calls
    from inside one (by name, two calls deep at most), other than once every N passes or
    once in the run (`periodic`)."""
    if many(source, source.enclosing(node, LOOPS)):
        return not periodic(source, node)
    return any(many(source, source.enclosing(c, LOOPS)) and not periodic(source, c)
               for sites in caller_sites(source, node) for c in sites)


def caller_sites(source: SourceFile, node: ast.AST, depth: int = 2) -> Iterator[list[ast.Call]]:
    """The calls by name of `node`'s function, then those of the function holding the first
    of them, `depth` levels up."""
    function = source.enclosing(node)
    while function is not None and depth > 0:
        sites = calls_by_name(source).get(getattr(function, "name", ""), [])
        yield sites
        function = next((source.enclosing(c) for c in sites if source.enclosing(c)), None)
        depth -= 1
