"""MLX018: a differentiated function returns a loss that was never reduced to a scalar.
MLX090: one that returns a per-example loss summed over the batch (`.sum()`, `mx.sum(...)`
with no axis), undivided: its gradient, and every step, grows with the batch size, so a
learning rate tuned for a mean diverges (failure corpus fresh5 `ce_sum_reduction_diverges`:
`cross_entropy(m(x), y).sum()` over batches of 256 with SGD at 0.5: the loss rose 7295 ->
16977 and stayed in the thousands; `.mean()` fell 1.16 -> 0.07). A sum divided by a count
(`(ce * mask).sum() / ntoks`), or over one axis, is a mean and is left alone; so is a sum
weighted by one of the function's parameters that the module divides by its own sum (`w = w /
w.sum()`: sample weights that sum to one make a weighted mean).

Job: follow a differentiated function's result back through its own local names and
elementwise arithmetic to a loss that keeps one value per example: `reduction="none"`
given, or left at its default where `mlx.nn.losses` defaults to "none" (cross_entropy,
nll_loss, kl_div_loss, ...: `loss_signatures`, read from mlx 0.32.4's signatures). A reduction
anywhere on the way (`.mean()`, `mx.sum(...)`, any call not known to be elementwise) ends
the trail: what it returns is not followed further.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import contexts, helper_assignments, module_instances, returns_of, under
from ..finding import Finding
from ..flow import assignments, name_bindings, names_in, walk
from ..loss_signatures import reduction_index
from ..names import TREE_MAP, last_name
from ..source import SourceFile, descendants
from .base import DIFFERENTIATES, Rule

# mlx.nn.losses functions whose `reduction` defaults to "none" -> its positional index.
DEFAULT_NONE = reduction_index("none")
ELEMENTWISE = frozenset(f"mlx.core.{name}" for name in (
    "multiply", "add", "subtract", "divide", "square", "abs", "exp", "log", "sqrt", "negative",
    "maximum", "minimum", "where", "clip", "power", "sigmoid", "tanh"))
ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
DEPTH = 4


def per_example(source: SourceFile, node: ast.AST) -> bool:
    """A loss call that keeps one value per example: `reduction="none"`, or the default of a
    loss whose default is "none" (no `reduction` given, by keyword or position)."""
    if not isinstance(node, ast.Call):
        return False
    given = next((k.value for k in node.keywords if k.arg == "reduction"), None)
    if given is not None:
        return isinstance(given, ast.Constant) and given.value == "none"
    index = DEFAULT_NONE.get(source.imports.resolve(node.func) or "")
    unpacked = any(isinstance(a, ast.Starred) for a in node.args) or any(
        k.arg is None for k in node.keywords)
    return index is not None and len(node.args) <= index and not unpacked


def last_bindings(body: list[ast.AST]) -> dict[str, ast.AST]:
    """Each local name's last binding in source order."""
    return name_bindings(assignments(walk(body)))


class Trail:
    """What `unreduced` follows in one differentiated function: its local bindings and the
    names whose calls are forward passes (its first parameter, the module's layers)."""

    def __init__(self, source: SourceFile, function: ast.AST) -> None:
        body = function.body if isinstance(function.body, list) else [function.body]
        self.source, self.function = source, function
        # `nll, mask = token_nll(...)` follows into what the module's helper returns there
        # (lintheld3 `b3_per_token_loss_unreduced`: `return cross_entropy(...) * mask, mask`)
        self.bound = name_bindings(helper_assignments(source, list(walk(body))))
        params = function.args.posonlyargs + function.args.args
        self.parameters = [a.arg for a in params]
        self.models = module_instances(source) | ({params[0].arg} if params else set())

    def weights(self, node: ast.AST) -> bool:
        """A per-example weight the function is handed (`w * bce(...)` with `w` one of its
        parameters other than the model and a name the module normalises, `w = w / w.sum()`):
        a weighted sum of weights that sum to one is a weighted mean (fresh393
        `spine_crack_boost_rounds`, correct: AdaBoost's row weights, renormalised each round,
        in `mx.sum(w * binary_cross_entropy(..., reduction="none"))`)."""
        return isinstance(node, ast.Name) and node.id in self.parameters[1:] and (
            node.id in normalised(self.source))

    def prediction(self, node: ast.AST, depth: int) -> bool:
        """`model(x)` (directly or through a local name): one output per example."""
        if isinstance(node, ast.Name) and depth and node.id in self.bound:
            return self.prediction(self.bound[node.id], depth - 1)
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
            node.func.id in self.models) and not (
                node.args and all(map(constant_number, node.args)))


def normalised(source: SourceFile) -> set[str]:
    """Names the module divides by their own sum (`w = w / w.sum()`, `w /= np.sum(w)`)."""
    def make() -> set[str]:
        found = set()
        for node in source.of_type(ast.Assign, ast.AugAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if not isinstance(target, ast.Name):
                continue
            parts = (target, node.value) if isinstance(node, ast.AugAssign) and isinstance(
                node.op, ast.Div) else quotient(node.value)
            if parts is not None and _own_sum(parts[1], target.id) and target.id in names_in(
                    parts[0]):
                found.add(target.id)
        return found
    return source.cached("normalised", source.tree, make)


def _own_sum(node: ast.AST, name: str) -> bool:
    """`name.sum()`, `np.sum(name)`, `mx.sum(name)`."""
    if not isinstance(node, ast.Call) or last_name(node.func) != "sum":
        return False
    inner = node.func.value if isinstance(node.func, ast.Attribute) and not node.args else (
        node.args[0] if node.args else None)
    return isinstance(inner, ast.Name) and inner.id == name


def constant_number(node: ast.AST) -> bool:
    """`0.0` or `mx.array(1.0)`: one value, so a model called on it predicts one value
    (fresh175 `cooling_fin_pinn_sgdr_table`, correct: a boundary term `(model(mx.array(0.0))
    - 1.0) ** 2` of a PINN)."""
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        node = node.args[0]
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float))


def unreduced(trail: Trail, node: ast.AST, depth: int) -> bool:
    """`node` is a per-example loss, a prediction minus a target, or elementwise arithmetic
    on one (through local names)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC):
        if isinstance(node.op, ast.Sub) and any(
                trail.prediction(n, depth) for n in (node.left, node.right)):
            return True
        if isinstance(node.op, ast.Mult) and any(map(trail.weights, (node.left, node.right))):
            return False
        return any(unreduced(trail, n, depth) for n in (node.left, node.right))
    if isinstance(node, ast.UnaryOp):
        return unreduced(trail, node.operand, depth)
    if isinstance(node, ast.Name) and depth and node.id in trail.bound:
        return unreduced(trail, trail.bound[node.id], depth - 1)
    if isinstance(node, ast.Call) and trail.source.imports.resolve(node.func) in ELEMENTWISE:
        return any(unreduced(trail, a, depth) for a in node.args)
    return per_example(trail.source, node)


def first(node: ast.AST) -> ast.AST:
    """The loss of `return loss, aux` (value_and_grad differentiates the first output)."""
    return node.elts[0] if isinstance(node, ast.Tuple) and node.elts else node


def differentiated_results(source: SourceFile) -> Iterator[tuple[Trail, ast.AST]]:
    """(the function's trail, the loss it returns) of each differentiated function."""
    for function, _ in under(source, "grad"):
        trail = Trail(source, function)
        for result in map(first, returns_of(function)):
            yield trail, result


class PerExampleLossGrad(Rule):
    """MLX018: a differentiated function returns a per-example loss, or elementwise
    arithmetic on one, never reduced: value_and_grad needs a scalar."""

    id = "MLX018"
    anchors = DIFFERENTIATES
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and ("none" in text or "loss" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for trail, result in differentiated_results(source):
            if unreduced(trail, result, DEPTH):
                yield self.hit(source, result)


def summed_loss(trail: Trail, node: ast.AST, depth: int) -> bool:
    """`per_example_loss.sum()` or `mx.sum(per_example_loss)` with no axis (through local
    names): one number that grows with the batch."""
    if isinstance(node, ast.Name) and depth and node.id in trail.bound:
        return summed_loss(trail, trail.bound[node.id], depth - 1)
    if not isinstance(node, ast.Call) or node.keywords:
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "sum" and not node.args:
        return unreduced(trail, func.value, depth)
    if trail.source.imports.resolve(func) == "mlx.core.sum" and len(node.args) == 1:
        return unreduced(trail, node.args[0], depth)
    return False


class SummedBatchLoss(Rule):
    """MLX090: a differentiated function returns a per-example loss summed over the batch,
    undivided: the gradient (and so the step) grows with the batch size."""

    id = "MLX090"
    anchors = DIFFERENTIATES
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and "sum(" in text and "loss" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        if divides_leaves(source):
            return
        per_example = vmapped(source)
        for trail, result in differentiated_results(source):
            if getattr(trail.function, "name", None) not in per_example and summed_loss(
                    trail, result, DEPTH):
                yield self.hit(source, result)


def divides_leaves(source: SourceFile) -> bool:
    """The module divides every leaf of a tree (`tree_map(lambda g: g / n, grads)`): the
    summed gradients are made a mean after the fact, the companion of a summed loss
    (fresh76 `bread_proof_pinball_accum`: a pinball loss summed over each micro-batch, the
    accumulated gradients divided by the examples seen)."""
    return any(_divides_its_argument(c.args[0]) for c in source.of_type(ast.Call)
               if len(c.args) >= 2 and source.imports.resolve(c.func) in TREE_MAP)


def _divides_its_argument(node: ast.AST) -> bool:
    """`lambda g: g / n` (or `mx.divide(g, n)`), also of a value made from the leaf: `lambda
    g: mx.distributed.all_sum(g) / n_glob` (fresh324 `skep_ledger_ringpair`, correct: a
    summed loss on each rank, the summed gradients averaged over every rank's rows)."""
    if not (isinstance(node, ast.Lambda) and node.args.args):
        return False
    name, parts = node.args.args[0].arg, quotient(node.body)
    return parts is not None and name in names_in(parts[0]) and name not in names_in(parts[1])


def quotient(node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    """The numerator and the divisor of `a / b` or `mx.divide(a, b)`."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return node.left, node.right
    if isinstance(node, ast.Call) and last_name(node.func) == "divide" and len(node.args) == 2:
        return node.args[0], node.args[1]
    return None


def vmapped(source: SourceFile) -> set[str]:
    """Names handed to `mx.vmap`, also inside another transformation (`mx.vmap(mx.grad(
    example_loss))`): a function of one example, whose sum is that example's loss (fresh14
    `correct_a14_dpsgd`: per-example gradients for DP-SGD)."""
    return {n.id for c in source.of_type(ast.Call) if c.args
            and source.imports.resolve(c.func) == "mlx.core.vmap"
            for n in descendants(c.args[0]) if isinstance(n, ast.Name)} | {
        getattr(f, "name", "") for f, kinds in contexts(source).items() if "vmap" in kinds}
