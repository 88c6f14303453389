"""MLX283: the gradients of one part of a model multiplied by a constant before an optimizer
that normalises each coordinate by the gradient's own running size (Adam, AdamW, Adamax,
RMSprop, Adagrad, Lion). Adam's step is m / sqrt(v): scaling g by c scales m by c and
sqrt(v) by |c|, so the step is the same (up to eps) and the part trains at the full rate;
a per-group learning rate has to scale the step, not the gradient.

Measured (mlx 0.32.4 CPU, failure corpus fresh27 `backbone_lr_ratio_gradscale_adam`,
unsloth-zoo c6023af): a pretrained backbone's gradients multiplied by 0.01 before
`optim.Adam(learning_rate=5e-2)` moved it at the full 5e-2: its ReLU layers died in ~50
steps and validation accuracy held at the majority rate 0.506; the same ratio applied to
the realised step (`p0 + 0.01 * (p1 - p0)`) fine-tuned.

The part is what shows the intent: a leaf scaled under a test of its name (`if
name.startswith("backbone."): g = g * r`), or one entry of the tree mapped
(`grads["backbone"] = tree_map(lambda g: g * r, grads["backbone"])`). Scaling every
gradient (an accumulation's `/ n`, a loss scale undone) is left alone: it changes nothing
either, but it is no bug. Quiet where the file builds any optimizer outside those families
(SGD's step is proportional to the gradient), and where the factor is not a constant of the
module (a clip's `max_norm / norm` changes from step to step, and that does change Adam's
step).

Job: find those scalings. Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..flow import assignments, bound_only
from ..source import SourceFile
from .base import Rule
from .tree_iteration import graders, is_tree

ADAPTIVE = frozenset({"Adam", "AdamW", "Adamax", "RMSprop", "Adagrad", "Lion"})
FLATTEN = "mlx.utils.tree_flatten"
TREE_MAP = "mlx.utils.tree_map"
STRING_TESTS = frozenset({"startswith", "endswith"})


def optimizers(source: SourceFile) -> set[str]:
    """The classes of `mlx.optimizers` the file builds (`optim.Adam(...)` -> `Adam`)."""
    return {name.rpartition(".")[2] for call in source.of_type(ast.Call)
            if (name := source.imports.resolve(call.func) or "").startswith("mlx.optimizers.")
            and name.rpartition(".")[2][:1].isupper()}


def constants(source: SourceFile) -> set[str]:
    """Module-level names bound only to a number (`BACKBONE_LR_RATIO = 0.01`)."""
    return bound_only(assignments(source.tree.body), _number)


def _number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def constant(node: ast.AST, names: set[str]) -> bool:
    """A number, or a module constant, or arithmetic of those."""
    if isinstance(node, ast.BinOp):
        return constant(node.left, names) and constant(node.right, names)
    return _number(node) or isinstance(node, ast.Name) and node.id in names


def scaled(node: ast.AST, leaf: str, names: set[str]) -> bool:
    """`leaf * c`, `c * leaf` or `leaf / c` with `c` constant."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div))):
        return False
    pairs = [(node.left, node.right)] + ([(node.right, node.left)] if isinstance(
        node.op, ast.Mult) else [])
    return any(isinstance(a, ast.Name) and a.id == leaf and constant(b, names)
               for a, b in pairs)


def flattened_leaves(source: SourceFile, named: set[str]) -> Iterator[tuple[ast.For, str, str]]:
    """(loop, key name, leaf name) of `for key, leaf in tree_flatten(grads)` over a
    gradient tree."""
    for loop in source.of_type(ast.For):
        it, target = loop.iter, loop.target
        if isinstance(it, ast.Call) and source.imports.resolve(it.func) == FLATTEN and \
                it.args and is_tree(source, it.args[0], named) and isinstance(
                target, ast.Tuple) and len(target.elts) == 2 and all(
                isinstance(e, ast.Name) for e in target.elts):
            yield loop, target.elts[0].id, target.elts[1].id


def names_test(test: ast.AST, key: str) -> bool:
    """The test reads the leaf's name: `key.startswith(...)`, `"x" in key`, `key == ...`."""
    return any(isinstance(n, ast.Name) and n.id == key for n in ast.walk(test))


def part_scalings(loop: ast.For, key: str, leaf: str, names: set[str]) -> Iterator[ast.AST]:
    """The constant scalings of `leaf` under an `if` (or a conditional expression) on
    `key` in the loop's body."""
    for node in (n for s in loop.body for n in ast.walk(s)):
        if isinstance(node, (ast.If, ast.IfExp)) and names_test(node.test, key):
            body = node.body if isinstance(node, ast.If) else [node.body]
            yield from (n for s in body for n in ast.walk(s) if scaled(n, leaf, names))


def mapped_parts(source: SourceFile, named: set[str], names: set[str]) -> Iterator[ast.AST]:
    """`tree_map(lambda g: g * c, grads["part"])` over one entry of a gradient tree."""
    for call in source.of_type(ast.Call):
        if source.imports.resolve(call.func) != TREE_MAP or len(call.args) != 2:
            continue
        fn, tree = call.args
        if isinstance(fn, ast.Lambda) and len(fn.args.args) == 1 and isinstance(
                tree, ast.Subscript) and is_tree(source, tree.value, named) and scaled(
                fn.body, fn.args.args[0].arg, names):
            yield call


class PartGradientScaledForAdam(Rule):
    """MLX283: `if name.startswith("backbone."): g = g * 0.01` before `optim.Adam`."""

    id = "MLX283"
    anchors = ("optimizers",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "optimizers" in text and ("tree_flatten(" in text or "tree_map(" in text) \
            and any(name + "(" in text for name in ADAPTIVE)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        built = optimizers(source)
        if not built or not built <= ADAPTIVE:
            return
        named, names = graders(source), constants(source)
        for loop, key, leaf in flattened_leaves(source, named):
            yield from (self.hit(source, n) for n in part_scalings(loop, key, leaf, names))
        yield from (self.hit(source, n) for n in mapped_parts(source, named, names))
