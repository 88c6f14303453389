"""MLX221: a bank of a model's outputs, appended batch by batch in a loop that neither trains
nor evaluates them, then concatenated after it: one lazy graph holds every batch's input and
forward pass until the concatenation is evaluated.

Measured (mlx 0.32.4 CPU, failure corpus fresh215 `linprobe_lazy_feature_bank`,
mlx-examples 6d13a14 "Fix linear probe script" added `mx.eval(image_embeds)` to the loop): a
CLIP-style linear probe banked `image_embeds = model.get_image_features(x)` for 36 batches
and concatenated them after the loop: MLX's active memory climbed 23.7 -> 47.4 -> 71.0 ->
106.5 MiB and peak RSS reached 433 MB, against 3.3-4.1 MiB and 83 MB with each batch's
embeddings evaluated before the append (the same features, the same accuracy, 98.4%).

Job: in a function that is no method of an nn.Module class (a model's forward may gather
its layers' outputs in one graph on purpose), a `for` loop over a data source (not over a
`range` or a literal: mlx-vlm's per-sample logits processors, a rollout's time steps and a
box's four coordinates are banked in one graph on purpose) that does not train
(`evaluation.loop_trains`) with `c.append(v)`, `v` bound in the loop to the result of a
call on an object (`model.get_image_features(x)`, `encoder(x)`; not `mx.array(...)` of the
data), neither `v` nor `c` evaluated or materialised in the loop (`mx.eval`,
`mx.async_eval`, `.item()`, `np.array`), and `mx.concatenate(c)` or `mx.stack(c)` after the
loop in the same function.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..dataflow import module_classes
from ..finding import Finding
from ..flow import assignments, body_nodes, calls
from ..names import last_name
from ..partial import METHOD, blocks, cut
from ..source import FUNCTIONS, LOOPS, SourceFile, descendants
from .base import Rule
from .evaluation import evaluated_in, loop_trains, materialised

JOINS = frozenset({"mlx.core.concatenate", "mlx.core.stack"})
# `mx.concatenate(c` / `mx.stack(c` of a plain name: the list the text test asks `c.append(` of.
JOINED = re.compile(r"mx\.(?:concatenate|stack)\(\s*(\w+)\s*[,)]")


class LazyBank(Rule):
    """MLX221: `feats.append(model.get_image_features(x))` per batch, `mx.concatenate(feats)`
    after the loop, nothing evaluated between."""

    id = "MLX221"
    anchors = (".append(",)

    @staticmethod
    def may_fire(text: str) -> bool:
        if ".append(" not in text or not any(f"{name}.append(" in text
                                             for name in set(JOINED.findall(text))):
            return False
        return any(banks(piece) for piece in functions_text(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        methods = {f for c in module_classes(source) for f in c.body if isinstance(f, FUNCTIONS)}
        for function in source.of_type(*FUNCTIONS):
            if function in methods:
                continue
            joined = joined_lists(source, function)
            for loop in (n for n in body_nodes(source, function) if isinstance(n, LOOPS)):
                if joined and source.enclosing(loop) is function:
                    yield from (self.hit(source, node) for node in banked(source, loop, joined))


def functions_text(text: str) -> list[str]:
    """The module's top-level blocks, each class's cut into its methods; the methods of a
    class whose line names a `Module` base are left out (the check skips a model's own)."""
    pieces: list[str] = []
    for block in blocks(text):
        header = next((line for line in block.split("\n") if not line.startswith("@")), "")
        if not header.startswith("class "):
            pieces.append(block)
        elif "Module" not in header:
            pieces += cut(block, METHOD)
    return pieces


def banks(piece: str) -> bool:
    """A loop, and `c.append(` of a name `c` the piece joins with `mx.concatenate(c`."""
    return "for " in piece and any(f"{name}.append(" in piece
                                   for name in set(JOINED.findall(piece)))


def joined_lists(source: SourceFile, function: ast.AST) -> set[str]:
    """The names `mx.concatenate(c)` / `mx.stack(c)` join in `function`."""
    return {call.args[0].id for call in calls(body_nodes(source, function))
            if source.imports.resolve(call.func) in JOINS and call.args
            and isinstance(call.args[0], ast.Name)}


def banked(source: SourceFile, loop: ast.AST, joined: set[str]) -> list[ast.AST]:
    """The `c.append(v)` statements of a loop that does not train, `c` joined after it and `v`
    a forward's output that nothing in the loop evaluates."""
    nodes = body_nodes(source, loop)
    outputs = forward_outputs(source, nodes)
    if not outputs or not over_data(loop) or loop_trains(source, loop):
        return []
    safe = evaluated_in(source, loop) | materialised(source, nodes)
    return [node for node in nodes if (pair := appended(node)) and pair[0] in joined
            and pair[1] in outputs and not {*pair} & safe]


def over_data(loop: ast.AST) -> bool:
    """A `for` over a data source (`for i, batch in enumerate(loader)`, `for x in batches(...)`),
    not over a `range` (a sequence's positions, a rollout's time steps) or a literal (the four
    coordinates of a box): each pass then holds a new input batch, and the bank grows with
    the data."""
    if not isinstance(loop, ast.For) or isinstance(loop.iter, (ast.List, ast.Tuple, ast.Set)):
        return False
    source = loop.iter.args[0] if isinstance(loop.iter, ast.Call) and last_name(
        loop.iter.func) == "enumerate" and loop.iter.args else loop.iter
    return not (isinstance(source, ast.Call) and last_name(source.func) == "range") and not \
        isinstance(source, (ast.List, ast.Tuple, ast.Set))


def forward_outputs(source: SourceFile, nodes: list[ast.AST]) -> set[str]:
    """Names bound to a call on an object (`model.f(x)`, `encoder(x)` of a non-MLX callee)."""
    return {target.id for target, value in assignments(nodes)
            if isinstance(target, ast.Name) and isinstance(value, ast.Call)
            and not (source.imports.resolve(value.func) or "").startswith("mlx.")
            and isinstance(value.func, ast.Attribute) and last_name(value.func.value)
            and not any(isinstance(n, ast.Constant) for n in descendants(value.func))}


def appended(node: ast.AST) -> tuple[str, str] | None:
    """(c, v) of a statement `c.append(v)` with two names."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return None
    call = node.value
    if (isinstance(call.func, ast.Attribute) and call.func.attr == "append"
            and isinstance(call.func.value, ast.Name) and len(call.args) == 1
            and isinstance(call.args[0], ast.Name)):
        return call.func.value.id, call.args[0].id
    return None
