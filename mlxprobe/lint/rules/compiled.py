"""MLX053: a function compiled with `inputs=`/`outputs=` changes state its list leaves out: an
optimizer or a module it updates, or the random state when it draws random numbers (from
`mx.random`, or through a dropout layer of the model a compiled training step trains). State
given as `inputs=` only leaves everything out (fresh13 `b13_compile_state_inputs_only`:
"[eval] Attempting to eval an array without a primitive" at the first step).
MLX065: a compiled function branches (`if`, `while`, `x if c else y`) on a Python value it
does not take as an argument and that changes between calls (a module-level loop counter, a
global it increments): the branch is taken as it was when the function was traced.
MLX088: a compiled function reads a number on `self` (`self.lr`) that a method other than
`__init__` rebinds to a Python number as the run goes (a warm-up schedule): the trace holds the
value it read the first time (fresh10 `a10_compiled_step_stale_lr`: compiled while the warm-up
held 0.0, the weights never moved; passed in as `mx.array(self.lr)` it trains).

Job: resolve the declared state (a literal list, or a module-level name bound to one and never
grown) and compare it with what the compiled function's code updates and draws. The list is
compared as text (`opt.state`), which is how programs write it; an unresolvable list is left
alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..dataflow import COMPILE, function_of, module_classes, module_instances, under
from ..finding import Finding
from ..flow import (
    arguments,
    assigned,
    assignments,
    between,
    body_assignments,
    body_nodes,
    bound,
    calls,
    names_in,
    reach,
    self_attr,
    walk,
)
from ..names import dotted
from ..partial import closure
from ..source import FUNCTIONS, SourceFile, descendants
from .base import Rule
from .evaluation import is_optimizer_update
from .state import model_update
from .tracing import mx_compiles
from .transforms import compiles, declares_state

RANDOM_STATE = "mlx.core.random.state"
NOT_DRAWS = frozenset({"mlx.core.random.seed", "mlx.core.random.key", "mlx.core.random.split",
                       RANDOM_STATE})
GROWS = frozenset({"append", "extend", "insert"})
# how far after `compile` its state keywords are looked for in the text: a call or a
# `partial(mx.compile, ...)` spread over a few lines (a model file's `inputs=` elsewhere
# would otherwise parse it whole)
DECLARES_WITHIN = 300
DROPOUT = frozenset({"mlx.nn.Dropout", "mlx.nn.Dropout2d", "mlx.nn.Dropout3d"})


def stateful_compiles(source: SourceFile) -> Iterator[tuple[ast.AST, ast.Call]]:
    """(function, the compile decorator or call that declares its state)."""
    for function in source.of_type(*FUNCTIONS):
        for decorator in function.decorator_list:
            if compiles(source, decorator) and declares_state(source, decorator):
                yield function, decorator
    for call in source.of_type(ast.Call):
        if (source.imports.resolve(call.func) in COMPILE and call.args
                and declares_state(source, call)):
            function = function_of(source, call.args[0])
            if function is not None and not isinstance(function, ast.Lambda):
                yield function, call


def declared(source: SourceFile, compile_call: ast.Call) -> list[ast.AST] | None:
    """The elements of `outputs=` (a list, or a name bound once to a list that nothing
    grows, at module level or in the function that compiles; none at all when only
    `inputs=` is given); None when they cannot be read here."""
    given = {k.arg: k.value for k in compile_call.keywords}
    if "outputs" not in given and "inputs" in given:
        return []  # state captured as inputs only: whatever the function changes is left out
    value = given.get("outputs")
    if isinstance(value, ast.Name):
        scope = source.enclosing(compile_call)
        if scope is not None and compile_call in getattr(scope, "decorator_list", ()):
            scope = source.enclosing(scope)  # a decorator runs where its function is defined
        local = _module_list(source, value.id, scope.body) if scope is not None and not (
            isinstance(scope, ast.Lambda)) else None
        value = local or _module_list(source, value.id, source.tree.body)
    return list(value.elts) if isinstance(value, (ast.List, ast.Tuple)) else None


def _module_list(source: SourceFile, name: str, body: list[ast.stmt]) -> ast.AST | None:
    bound = [v for t, v in assignments(walk(body)) if isinstance(t, ast.Name)
             and t.id == name]
    grown = any(isinstance(c.func, ast.Attribute) and c.func.attr in GROWS
                and isinstance(c.func.value, ast.Name) and c.func.value.id == name
                for c in source.of_type(ast.Call))
    return bound[0] if len(bound) == 1 and not grown else None


class CompiledStateIncomplete(Rule):
    """MLX053: `@partial(mx.compile, inputs=state, outputs=state)` over a function that
    updates an optimizer or module whose `.state` is not in the list, or draws from
    `mx.random` while `mx.random.state` is not in it."""

    id = "MLX053"
    anchors = ("outputs=", "inputs=")

    @staticmethod
    def may_fire(text: str) -> bool:
        """`inputs=` or `outputs=` within DECLARES_WITHIN characters after a `compile`."""
        at = text.find("compile")
        while at >= 0:
            if "puts=" in text[at:at + DECLARES_WITHIN]:
                return True
            at = text.find("compile", at + 7)
        return False

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function, where in stateful_compiles(source):
            listed = declared(source, where)
            if listed is None:
                continue
            texts = {ast.unparse(e) for e in listed}
            has_random = any(source.imports.resolve(e) == RANDOM_STATE for e in listed)
            nodes = list(calls(reach(source, function.body)))
            if any(self._missing(source, c, texts, has_random) for c in nodes) or (
                    not has_random and self._drops_out(source, nodes)):
                yield self.hit(source, where)

    @staticmethod
    def _drops_out(source: SourceFile, nodes: list[ast.Call]) -> bool:
        """A training step (it updates with an optimizer) in a module that builds a dropout
        layer with a rate that is not a literal 0: the step's masks come from the random
        state."""
        return any(is_optimizer_update(source, c) for c in nodes) and (any(
            source.imports.resolve(c.func) in DROPOUT and not _zero_rate(c)
            for c in source.of_type(ast.Call)) or layer_draws(source))

    def _missing(self, source: SourceFile, call: ast.Call, texts: set[str],
                 has_random: bool) -> bool:
        """`call` changes state that `texts` (the declared list, as text) leaves out."""
        if draws(source, call):
            return not has_random
        if is_optimizer_update(source, call) or model_update(call) or _module_update(source, call):
            receiver = ast.unparse(call.func.value)
            return not {f"{receiver}.state", f"{receiver}.parameters()"} & texts
        return False


def layer_draws(source: SourceFile) -> bool:
    """A forward method of the module's own nn.Module classes draws from `mx.random` with
    no explicit key (a drop-connect mask, noise): every training step uses the random
    state."""
    return any(draws(source, c) for cls in module_classes(source) for f in cls.body
               if isinstance(f, FUNCTIONS) and f.name != "__init__"
               for c in calls(body_nodes(source, f)))


def draws(source: SourceFile, call: ast.Call) -> bool:
    name = source.imports.resolve(call.func) or ""
    return name.startswith("mlx.core.random.") and name not in NOT_DRAWS and not any(
        k.arg == "key" for k in call.keywords)


def _zero_rate(call: ast.Call) -> bool:
    rate = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "p"),
                                                None)
    return isinstance(rate, ast.Constant) and rate.value == 0


def _module_update(source: SourceFile, call: ast.Call) -> bool:
    """`ema.update(tree)` on a name bound to a module (`ema = nn.Linear(...)`)."""
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "update" and len(call.args) == 1
            and isinstance(func.value, ast.Name) and func.value.id in module_instances(source))


BRANCHES = (ast.If, ast.While, ast.IfExp)
# Blocks that may change what a compiled function reads: code at module level (a loop there
# rebinds its names), `self.x += ...`, any `self.x = ...` line (a text superset of a method
# other than `__init__` rebinding it). A `global` anywhere keeps every block: the function
# that rebinds it may be called from a loop in any other.
TOP_LEVEL = re.compile(r"^(?:for|while|if|with|try)\b", re.MULTILINE)
SELF_INCREMENT = re.compile(r"self\.(\w+) [-+*/]= ")
SELF_BIND = re.compile(r"self\.(\w+) [-+*/]?= ")
SELF_READ = re.compile(r"self\.(\w+)")
# A `global x` statement in a function (a "global attention" in a docstring is none).
GLOBAL_STATEMENT = re.compile(r"^[ \t]+global \w", re.MULTILINE)


def compiled_blocks(text: str, reads: Callable[[str], bool], rebinds: re.Pattern[str],
                    top_level: bool = False) -> Callable[[str], bool]:
    """The blocks that compile a function and those defining what it runs (`closure`), when
    one of them `reads` what the rule is about, and every block that `rebinds` (its group:
    the attribute's name) a `self.x` the compiled code reads, or, with `top_level`, that
    runs statements at module level; no block at all when none of the compiled code reads
    what the rule is about (a fused activation tests nothing)."""
    kept = closure(text, mx_compiles)
    if not any(reads(block) for block in kept):
        return frozenset().__contains__
    read = {name for block in kept for name in SELF_READ.findall(block)}
    return lambda block: block in kept or (top_level and TOP_LEVEL.search(block) is not None
                                           ) or not read.isdisjoint(rebinds.findall(block))


class TracedBranch(Rule):
    """MLX065: an `if`/`while` in a compiled function tests a name that is neither its
    argument nor its own local, and that the module rebinds as it runs (a loop variable at
    module level, a global assigned more than once or incremented), or an attribute of
    `self` the program increments (`self.global_step += 1`)."""

    id = "MLX065"
    anchors = ("compile",)
    local = True  # reads the compiled code and the blocks that may rebind what it tests

    @staticmethod
    def may_fire(text: str) -> bool:
        return "compile" in text and "if " in text and mx_compiles(text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        if GLOBAL_STATEMENT.search(text) is not None:
            return lambda block: True
        return compiled_blocks(text, lambda b: "if " in b or "while " in b, SELF_INCREMENT,
                               top_level=True)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        changing, attributes = changing_globals(source), changing_attributes(source)
        if not changing and not attributes:
            return
        for function, nodes in under(source, "compile"):
            declared = {n for g in nodes if isinstance(g, ast.Global) for n in g.names}
            own = (arguments(function) | {n for node in nodes for n in bound(node)}) - declared
            for node in nodes:
                if isinstance(node, BRANCHES) and (names_in(node.test) & (changing - own) or (
                        self_attributes(node.test) & attributes)):
                    yield self.hit(source, node)


def self_attributes(node: ast.AST) -> set[str]:
    return {a for n in descendants(node) if (a := self_attr(n)) is not None}


def changing_attributes(source: SourceFile) -> set[str]:
    """`self.x` attributes the program increments (`self.global_step += 1`): a step counter
    an object carries from call to call."""
    return {n.target.attr for n in source.of_type(ast.AugAssign)
            if isinstance(n.target, ast.Attribute) and isinstance(n.target.value, ast.Name)
            and n.target.value.id == "self"}


def changing_globals(source: SourceFile) -> set[str]:
    """Module-level names rebound as the program runs: a module-level loop's variable or a
    name the loop's body assigns, a global a function rebinds step after step."""
    loops = [node for node in body_nodes(source, source.tree)
             if isinstance(node, (ast.For, ast.While)) and source.enclosing(node) is None]
    found = {n for loop in loops if isinstance(loop, ast.For) for n in assigned(loop.target)}
    found |= {n for loop in loops for node in body_nodes(source, loop) for n in bound(node)}
    return found | {n for g in source.of_type(ast.Global) for n in g.names
                    if rebinds_repeatedly(source, source.enclosing(g), n)}


def rebinds_repeatedly(source: SourceFile, function: ast.AST | None, name: str) -> bool:
    """The function declaring `name` global increments it, rebinds it inside a loop, or is
    itself called from a loop; a configuration set once (`CFG = Hyper(...)` in main) is not."""
    if function is None:
        return True
    binds = [n for n in body_nodes(source, function) if name in bound(n)]
    return any(isinstance(n, ast.AugAssign) or in_loop(source, n, function) for n in binds) or any(
        isinstance(c.func, ast.Name) and c.func.id == getattr(function, "name", "")
        and in_loop(source, c, None) for c in source.of_type(ast.Call))


def in_loop(source: SourceFile, node: ast.AST, stop: ast.AST | None) -> bool:
    """A `for`/`while` encloses `node` (below `stop`, when given)."""
    return between(source, node, stop, (ast.For, ast.While))


NUMERIC_CALLS = frozenset({"min", "max", "float", "int", "round", "abs"})


def numeric(value: ast.AST) -> bool:
    """A Python number as the program computes one: a constant, arithmetic, `min(...)`,
    `float(...)`, `math.cos(...)` (never a call that could return an array)."""
    if isinstance(value, ast.Constant):
        return type(value.value) in (int, float)
    if isinstance(value, (ast.BinOp, ast.UnaryOp)):
        return True
    parts = dotted(value.func) if isinstance(value, ast.Call) else None
    name = ".".join(parts or [])
    return name in NUMERIC_CALLS or name.startswith("math.")


def rebound_numbers(source: SourceFile) -> set[str]:
    """`self.x` attributes a method other than `__init__` sets to a Python number as the
    program runs (`self.lr = self.base_lr * min(1.0, step / warmup)` in a schedule)."""
    found = set()
    for function in source.of_type(*FUNCTIONS):
        if function.name == "__init__":
            continue
        for target, value in body_assignments(source, function):
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                    and target.value.id == "self" and numeric(value):
                found.add(target.attr)
    return found | changing_attributes(source)


class TracedNumber(Rule):
    """MLX088: a compiled function reads `self.lr`, a number another method rebinds as the
    run goes: the trace kept the value it read the first time."""

    id = "MLX088"
    anchors = ("compile",)
    local = True  # reads the compiled code and the blocks that may rebind `self.x`

    @staticmethod
    def may_fire(text: str) -> bool:
        return "compile" in text and "self." in text and mx_compiles(text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        return compiled_blocks(text, lambda b: "self." in b, SELF_BIND)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        changing = rebound_numbers(source)
        if not changing:
            return
        for _, nodes in under(source, "compile"):
            inner = [n for lam in nodes if isinstance(lam, ast.Lambda)
                     for n in descendants(lam.body)]
            for node in [*nodes, *inner]:
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) \
                        and isinstance(node.value, ast.Name) and node.value.id == "self" \
                        and node.attr in changing:
                    yield self.hit(source, node)
