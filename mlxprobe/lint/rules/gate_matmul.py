"""MLX241: a matrix product of two gate activations: `mx.matmul(g2, g3)` or `g4 @ mx.tanh(c)`
where both factors are outputs of a sigmoid or tanh (an LSTM's or GRU's gates and candidate
state). Gates scale a state element by element (`f * c + i * g`, `o * tanh(c)`); a matrix
product of two (batch, hidden) arrays runs without an error whenever batch equals hidden, and
otherwise mixes the examples of the batch into each other's state, so the recurrence carries
no per-example memory and the model learns at best its unigram statistics.

Measured (mlx 0.32.4 CPU, failure corpus fresh244 `hive_waggle_charlm`, dalongbao/papers
9530537): a hand-written LSTM cell combined its gates with `mx.matmul` (batch = hidden = 64);
the character LM's loss stayed near the unigram entropy while `mx.multiply` learned.

Job: `mx.matmul(a, b)` or `a @ b` in a function where `a` and `b` are each a sigmoid or tanh
output: a call of `mx.sigmoid`/`mx.tanh`/`nn.sigmoid`/`nn.tanh`, of `self.<attr>` that
`__init__` binds to `nn.Sigmoid()`/`nn.Tanh()`, or a name every binding of which in the
function is such a call. A product with a weight, a softmax or any other factor is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import body_assignments, bound_only, init_attributes, self_attr
from ..names import last_name
from ..source import SourceFile
from .base import Rule

GATES = frozenset({"mlx.core.sigmoid", "mlx.core.tanh", "mlx.nn.sigmoid", "mlx.nn.tanh"})
GATE_LAYERS = frozenset({"Sigmoid", "Tanh"})
MATMUL = "mlx.core.matmul"


class GateMatmul(Rule):
    """MLX241: `mx.matmul(forget_gate, cell)`: gates multiplied as matrices."""

    id = "MLX241"
    anchors = ("matmul(", " @ ")

    @staticmethod
    def may_fire(text: str) -> bool:
        return ("matmul(" in text or " @ " in text) and (
            "sigmoid" in text.lower() or "tanh" in text.lower())

    def check(self, source: SourceFile) -> Iterator[Finding]:
        known: dict[ast.AST, tuple[set[str], set[str]]] = {}
        for node in source.of_type(ast.BinOp, ast.Call):
            factors = product_factors(source, node)
            function = source.enclosing(node) if factors else None
            if function is None:
                continue
            if function not in known:
                known[function] = gates_of(source, function)
            if all(is_gate(source, f, *known[function]) for f in factors):
                yield self.hit(source, node)


def product_factors(source: SourceFile, node: ast.AST) -> list[ast.AST]:
    """The two factors of `a @ b` or `mx.matmul(a, b)`, else none."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return [node.left, node.right]
    if isinstance(node, ast.Call) and len(node.args) == 2 \
            and source.imports.resolve(node.func) == MATMUL:
        return list(node.args)
    return []


def gate_layers(source: SourceFile, function: ast.AST) -> set[str]:
    """`self.x` attributes the class's `__init__` binds to `nn.Sigmoid()` / `nn.Tanh()`."""
    cls = source.enclosing(function, (ast.ClassDef,))
    return set() if cls is None else init_attributes(cls, lambda v: isinstance(
        v, ast.Call) and last_name(v.func) in GATE_LAYERS)


def gate_call(source: SourceFile, node: ast.AST, layers: set[str]) -> bool:
    return isinstance(node, ast.Call) and (
        source.imports.resolve(node.func) in GATES or self_attr(node.func) in layers)


def gates_of(source: SourceFile, function: ast.AST) -> tuple[set[str], set[str]]:
    """(the class's gate layers, the names the function binds only to gate calls)."""
    layers = gate_layers(source, function)
    names = bound_only(body_assignments(source, function),
                       lambda value: gate_call(source, value, layers))
    return layers, names


def is_gate(source: SourceFile, node: ast.AST, layers: set[str], names: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in names
    return gate_call(source, node, layers)
