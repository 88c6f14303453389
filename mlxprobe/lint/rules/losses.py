"""Rules about how a loss is written: MLX002 (hand-written log-softmax with no label),
MLX007 (labels shifted on the batch axis), MLX011 (labels not shifted at all).

Job: read a loss function's own body, and the module's own helpers it computes the loss
with (MLX002: a log-softmax written in a helper).

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import (
    assignments,
    body_nodes,
    bound,
    bound_arguments,
    callee,
    local_values,
    name_bindings,
    names_in,
    walk,
)
from ..names import CROSS_ENTROPY, last_name
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule

GATHERS = frozenset({"take_along_axis", "take", "gather", "cross_entropy", "one_hot",
                     "nll_loss", "where"})
LABEL_WORDS = ("label", "target", "mask", "onehot", "one_hot")
HELPER_DEPTH = 2  # levels of the module's own functions a loss is followed into


def negated_reduction(expr: ast.AST) -> ast.AST | None:
    """X for `-mx.mean(X)`, `-X.mean()`, `-mx.sum(X)`; None otherwise."""
    if not (isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub)):
        return None
    call = expr.operand
    if not isinstance(call, ast.Call) or last_name(call.func) not in ("mean", "sum"):
        return None
    if call.args:
        return call.args[0]
    return call.func.value if isinstance(call.func, ast.Attribute) else None


def lineage(function: ast.AST, expr: ast.AST, source: SourceFile | None = None,
            depth: int = HELPER_DEPTH) -> list[ast.AST]:
    """The nodes `expr` is computed from inside `function` (following local assignments),
    and, given `source`, inside the module's own functions it calls (`log_probs(logits)`),
    through what they return."""
    nodes = local_lineage(function, expr)
    if source is None or not depth:
        return nodes
    helpers = {h for n in nodes if isinstance(n, ast.Call)
               and (h := callee(source, n)) is not None and h is not function}
    for helper in helpers:
        for node in body_nodes(source, helper):
            if isinstance(node, ast.Return) and node.value is not None:
                nodes.extend(lineage(helper, node.value, source, depth - 1))
    return nodes


def local_lineage(function: ast.AST, expr: ast.AST) -> list[ast.AST]:
    values: dict[str, list[ast.AST]] = {}
    for target, value in assignments(walk(function.body)):
        if isinstance(target, ast.Name):
            values.setdefault(target.id, []).append(value)
    nodes, todo, seen = list(descendants(expr)), names_in(expr), set()
    while todo:
        name = todo.pop()
        seen.add(name)
        for value in values.get(name, []):
            nodes.extend(descendants(value))
            todo |= names_in(value) - seen
    return nodes


def is_log_softmax(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = last_name(node.func)
    if name in ("log_softmax", "logsumexp"):
        return True
    inner = [n for a in node.args for n in descendants(a)]
    return name == "log" and any(isinstance(n, ast.Call) and last_name(n.func) == "exp"
                                 for n in inner)


def is_gather(node: ast.AST) -> bool:
    """A label enters: a gather call, an index array, a product of two arrays, a label name."""
    if isinstance(node, ast.Call):
        return last_name(node.func) in GATHERS
    if isinstance(node, ast.Subscript):
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        return any(not isinstance(p, (ast.Slice, ast.Constant, ast.UnaryOp)) for p in parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return not any(isinstance(s, (ast.Constant, ast.UnaryOp)) for s in (node.left,
                                                                             node.right))
    return isinstance(node, ast.Name) and any(w in node.id.lower() for w in LABEL_WORDS)


def scopes(source: SourceFile) -> list[ast.AST]:
    """Every function, and the module itself (notebook-style top-level code)."""
    return [source.tree, *source.of_type(*FUNCTIONS)]


def loss_values(nodes: list[ast.AST]) -> Iterator[ast.AST]:
    """What a scope returns, and what it assigns to a name containing "loss" that is the
    loss itself (not a term combined with others, like label smoothing's uniform part)."""
    combined = {n.id for b in nodes if isinstance(b, ast.BinOp) for n in (b.left, b.right)
                if isinstance(n, ast.Name)}
    for node in nodes:
        if isinstance(node, ast.Return) and node.value is not None:
            yield node.value
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and "loss" in t.id.lower() and t.id not in combined
                for t in node.targets):
            yield node.value


class LogSoftmaxWithoutLabels(Rule):
    """MLX002: `-mean(log_softmax(...))` returned (or assigned to a loss) where no label ever
    selects a probability."""

    id = "MLX002"
    anchors = ("log_softmax", "logsumexp", "log(")
    local = True
    in_methods = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("log_softmax" in text or "logsumexp" in text or (
            "log(" in text and "exp(" in text)) and ("mean(" in text or "sum(" in text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """The blocks that may hold the loss (a reduction, whose log-probabilities may come
        from a helper in another block), and those that may hold its log-softmax."""
        return lambda block: "mean(" in block or "sum(" in block or "log_softmax" in block or (
            "logsumexp" in block) or ("log(" in block and "exp(" in block)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for scope in scopes(source):
            for value in loss_values(body_nodes(source, scope)):
                reduced = negated_reduction(value)
                if reduced is None:
                    continue
                nodes = lineage(scope, reduced, source)
                if any(map(is_log_softmax, nodes)) and not any(map(is_gather, nodes)) and not (
                        target_enters(source, scope, nodes)):
                    yield self.hit(source, value)


ARITHMETIC = (ast.Add, ast.Sub, ast.Div)


def target_enters(source: SourceFile, scope: ast.AST, nodes: list[ast.AST]) -> bool:
    """A parameter of the loss (or of a module function it reads through) is an operand of
    the arithmetic itself, as a name or a slice of one (`(z[:, None] - mu) / sigma`): a
    regression target meets the predictions there, so the log-softmax is a mixture's weights
    (fresh162 `rockfall_runout_mdn_sgdr`: `logsumexp(log_softmax(logit) + log N(z; mu,
    sigma))`, a mixture density network's likelihood), not a classifier's with no label."""
    fed = {n for c in nodes if isinstance(c, ast.Call) and not callee(source, c)
           for n in handed(source, c)}  # handed to the model or an op, not a target
    data = data_names(source, scope, nodes)
    outputs = outputs_of(scope, data)
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ARITHMETIC) and (
        any(root(side) in data - fed for side in (n.left, n.right))
        or {root(n.left), root(n.right)} & data and {root(n.left), root(n.right)} & outputs)
        for n in nodes)


def handed(source: SourceFile, call: ast.Call) -> set[str]:
    """The names a call's arguments hold, less those it is handed only through the module's
    own functions (`logsumexp(m.log_joint(x, y))`: `x` and `y` go to `log_joint`)."""
    inner = {id(n) for a in call.args for c in descendants(a) if isinstance(c, ast.Call)
             and callee(source, c) for n in descendants(c)}
    return {n.id for a in call.args for n in descendants(a)
            if isinstance(n, ast.Name) and id(n) not in inner}


def outputs_of(scope: ast.AST, data: set[str]) -> set[str]:
    """Names the loss binds to what a call handed one of its data names returns (`logit_w,
    mu, log_s = model(pts)`): a data name met by one of them in arithmetic is the target
    (fresh276 `flock_collar_mixture_loop`, correct: a Gaussian mixture over the very points
    the model reads, `pts - mu`)."""
    out = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and any(
                isinstance(a, ast.Name) and a.id in data for a in node.value.args):
            out |= bound(node)
    return out


def data_names(source: SourceFile, scope: ast.AST, nodes: list[ast.AST]) -> set[str]:
    """The loss's parameters, and the parameters of the module functions it calls that are
    handed one of them by name (`mix_logpdf(model, x, z)`: its `z`); not one handed the
    model's output (`log_probs(model(x))`: its `logits`)."""
    found = {a.arg for a in (*scope.args.posonlyargs, *scope.args.args)} if isinstance(
        scope, FUNCTIONS) else set()
    for call in (n for n in nodes if isinstance(n, ast.Call)):
        helper = callee(source, call)
        if helper is not None:
            found |= {p for p, a in bound_arguments(helper, call).items()
                      if isinstance(a, ast.Name) and a.id in found}
    return found


def root(node: ast.AST) -> str | None:
    """`z` of `z`, `z[:, None]`."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def is_minus_one(node: ast.AST | None) -> bool:
    return (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant) and node.operand.value == 1)


def is_sequence_shift(node: ast.Subscript) -> bool:
    """`x[:, :-1]` or `x[:, :-1, :]`: batch first, predictions shifted on the sequence."""
    if not isinstance(node.slice, ast.Tuple) or len(node.slice.elts) < 2:
        return False
    first, second = node.slice.elts[:2]
    full = isinstance(first, ast.Slice) and not (first.lower or first.upper or first.step)
    return full and isinstance(second, ast.Slice) and is_minus_one(second.upper)


def is_batch_shift(node: ast.Subscript) -> bool:
    """`name[1:]`: one slice, starting at 1, on a plain name."""
    s = node.slice
    return (isinstance(node.value, ast.Name) and isinstance(s, ast.Slice)
            and isinstance(s.lower, ast.Constant) and s.lower.value == 1
            and s.upper is None and s.step is None)


def two_dimensional(name: str, subscripts: list[ast.Subscript], made_from: dict) -> bool:
    """`name` is used as (batch, sequence): indexed `name[:, ...]`, or fed to the call whose
    output is shifted with `[:, :-1]` (`model(name)[:, :-1]`, `logits = model(name)`)."""
    for s in subscripts:
        if isinstance(s.value, ast.Name) and s.value.id == name and isinstance(s.slice,
                                                                               ast.Tuple):
            return True
        if is_sequence_shift(s):
            producer = made_from.get(s.value.id) if isinstance(s.value, ast.Name) else s.value
            if isinstance(producer, ast.Call) and any(name in names_in(a) for a in producer.args):
                return True
    return False


def one_dimensional(name: str, subscripts: list[ast.Subscript]) -> bool:
    """`name[:-1]` next to `name[1:]` is a 1-D difference, not a label shift."""
    return any(isinstance(s.value, ast.Name) and s.value.id == name and isinstance(
        s.slice, ast.Slice) and is_minus_one(s.slice.upper) for s in subscripts)


class LabelShiftBatchAxis(Rule):
    """MLX007: `ids[1:]` where `ids` is a (batch, sequence) array whose predictions are
    shifted with `[:, :-1]`."""

    id = "MLX007"
    anchors = (":-1",)
    local = True
    in_methods = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return ":-1" in text and ("[1:]" in text or "[1 :]" in text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for scope in scopes(source):
            nodes = body_nodes(source, scope)
            subscripts = [n for n in nodes if isinstance(n, ast.Subscript)]
            if not any(map(is_sequence_shift, subscripts)):
                continue
            pairs = list(assignments(nodes))
            made_from = name_bindings(pairs)
            for s in filter(is_batch_shift, subscripts):
                name = s.value.id
                if two_dimensional(name, subscripts, made_from) and not one_dimensional(
                        name, subscripts) and not list_then(name, s, pairs):
                    yield self.hit(source, s)


def list_then(name: str, node: ast.AST, pairs: list[tuple[ast.AST, ast.AST]]) -> bool:
    """The binding of `name` last before `node`'s line is a Python list (`env = [x0]`, grown
    by `append` and stacked later as `mx.stack(env[1:], axis=1)`): `[1:]` drops its first
    entry, no batch row (fresh377 `envelope_ascent_gru`, correct: a simulated trajectory's
    initial state)."""
    before = [(t.lineno, v) for t, v in pairs
              if isinstance(t, ast.Name) and t.id == name and t.lineno < node.lineno]
    return bool(before) and isinstance(max(before, key=lambda b: b[0])[1], (ast.List,
                                                                              ast.ListComp))


def unshifted_root(source: SourceFile, node: ast.AST, expr: ast.AST,
                   depth: int = 4) -> ast.AST | None:
    """Where `expr` comes from, through subscripts that shift nothing and local names bound
    once: a plain name with no binding of its own there (an argument), or a call; None past
    a shifting slice (`x[:, 1:]`, `x[:, :-1]`), another expression, or `depth` names."""
    while type(expr) is ast.Subscript:
        if shifts(expr.slice):
            return None
        expr = expr.value
    if type(expr) is ast.Call:
        return expr
    if type(expr) is not ast.Name:
        return None
    values = local_values(source, node, expr)
    if not values:
        return expr
    return unshifted_root(source, node, values[0], depth - 1) if len(values) == 1 and \
        depth else None


def shifts(index: ast.AST) -> bool:
    """A slice among the index that starts anywhere but 0 (`1:`, `t:`) or ends a negative
    count before the end (`:-1`); `:K` picks the first K and shifts nothing."""
    parts = index.elts if type(index) is ast.Tuple else [index]
    return any(type(p) is ast.Slice and (not zero(p.lower) or negative(p.upper))
               for p in parts)


def zero(bound: ast.AST | None) -> bool:
    return bound is None or (type(bound) is ast.Constant and bound.value == 0)


def negative(bound: ast.AST | None) -> bool:
    return type(bound) is ast.UnaryOp and type(bound.op) is ast.USub


class UnshiftedLabels(Rule):
    """MLX011: `cross_entropy(model(x), x)`, directly or through a local `logits = model(x)`."""

    id = "MLX011"
    anchors = ("cross_entropy",)
    local = True

    @staticmethod
    def may_fire(text: str) -> bool:
        return "cross_entropy" in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if source.imports.resolve(call.func) not in CROSS_ENTROPY or len(call.args) < 2:
                continue
            logits, targets = call.args[:2]
            if isinstance(targets, ast.Constant):
                continue
            producers = [logits, *local_values(source, call, logits)]
            wanted = ast.dump(targets)
            if any(isinstance(p, ast.Call) and p.args and ast.dump(p.args[0]) == wanted
                   for p in producers) or self._same_positions(source, call, logits, targets):
                yield self.hit(source, call)

    @staticmethod
    def _same_positions(source: SourceFile, call: ast.Call, logits: ast.AST,
                        targets: ast.AST) -> bool:
        """The targets are the model's own input, selected but never shifted: both follow,
        through subscripts and names bound once in the loss function, to one name, the
        model's first argument, with no slice that starts past 0 or ends before the end
        (fresh125 `chime_codec_nextframe`, csm-mlx eecc69c: `audio_tokens = tokens[:, :,
        :K]`, then `cross_entropy(logits[k], audio_tokens[..., k])` with `logits =
        model(tokens, masks)`)."""
        target_root, model_call = unshifted_root(source, call, targets), unshifted_root(
            source, call, logits)
        return isinstance(target_root, ast.Name) and isinstance(model_call, ast.Call) and bool(
            model_call.args) and isinstance(model_call.args[0], ast.Name) and \
            model_call.args[0].id == target_root.id and target_root is not targets
