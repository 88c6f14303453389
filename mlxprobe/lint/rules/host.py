"""MLX069: a forward pass that sends a layer's output through the host (NumPy, `.tolist()`,
`.item()`) and back: the layers before that point get no gradient.

Job: in a module's `__call__` or in a differentiated function, find a call of one of the
module's own helpers (`self.robust_norm(self.feat(x))`) whose result reaches its arguments
only through a host copy (`np.array(h)`, `np.asarray(h)`, `h.tolist()`, `h.item()`) and that
returns `mx.array(...)` of what it made there (a new constant to autodiff), or that hands the
argument to such a helper one level down and carries nothing of it past that call (a mel loss
through an STFT in NumPy), given a layer's output. Everything that computed that output trains
on no gradient, while the layers after the helper still learn (failure corpus fresh7
`numpy_op_in_forward_cuts_grad`, mlx PR 323: the feature extractor's weights never changed in
539 steps, the head's did). MLX016 judges a differentiated function whose every result is cut;
this rule the cut inside one path. A helper applied to the raw inputs (data normalised in
NumPy) cuts nothing trained and is left alone.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ..dataflow import evaluation, forwards, layer_output
from ..finding import Finding
from ..flow import (
    arguments,
    assignments,
    body_nodes,
    bound_arguments,
    calls,
    derived,
    helper_of,
    name_bindings,
    names_in,
    walk,
)
from ..partial import around
from ..source import SourceFile
from .base import Rule
from .transforms import dead_names, first, reaches

HOST = frozenset({"item", "numpy"})
ARRAY = "mlx.core.array"
HOST_TEXT = ("np.array(", "np.asarray(", "numpy.array(", "numpy.asarray(", ".tolist()",
             ".item()")


def host_cut(source: SourceFile, helper: ast.AST, given: str, depth: int = 1) -> bool:
    """The helper copies its argument `given` (or a value made from it) to the host, and
    none of its results reaches an argument except through such a copy (or a constant); or,
    `depth` helpers down, hands it to a helper that does, and nothing of `given` reaches its
    results another way."""
    body = helper.body if isinstance(helper.body, list) else [helper.body]
    made = derived(body, given)
    if depth and through_helper(source, helper, body, given, made, depth):
        return True
    if not any(isinstance(n, ast.Call) and evaluation(source, n) in HOST
               and made & names_in(n) for n in walk(body)):
        return False
    results = returned_values(body)
    wrapped = any(isinstance(r, ast.Call) and source.imports.resolve(r.func) == ARRAY
                  for r in results)
    return wrapped and not carried(source, helper, body, given, results)


def returned_values(body: list[ast.stmt]) -> list[ast.AST]:
    """What the body's `return` statements return (a tuple's first element)."""
    return [first(r.value) for r in walk(body) if isinstance(r, ast.Return) and r.value]


def carried(source: SourceFile, helper: ast.AST, body: list[ast.stmt], given: str,
            results: list[ast.AST]) -> bool:
    """Some result reaches `given` other than through a host copy (the helper's other
    parameters seeded as carrying none)."""
    dead = dead_names(source, body, arguments(helper) - {given})
    return any(reaches(source, r, dead) for r in results)


def through_helper(source: SourceFile, helper: ast.AST, body: list[ast.stmt], given: str,
                   made: set[str], depth: int) -> bool:
    """`given` reaches a same-module helper that cuts it at the host, and the results carry
    nothing of `given` past that call (fresh255 `chorister_sibilant_hifigan`, GPT-SoVITS-mlx
    bfd9825: the generator's mel loss computed `mel_spectrogram_train(y_hat, ...)`, which
    called an STFT through `np.array(y)` and `np.fft.rfft`: the mel term gave no gradient)."""
    if not any(cuts_given(source, helper, call, made, depth) for call in walk(body)
               if isinstance(call, ast.Call)):
        return False
    results = returned_values(body)
    return bool(results) and not carried(source, helper, body, given, results)


def cuts_given(source: SourceFile, helper: ast.AST, call: ast.Call, made: set[str],
               depth: int) -> bool:
    """`call` hands a value made from the argument to another same-module helper that cuts
    it at the host."""
    inner = helper_of(source, call)
    if inner is None or isinstance(inner, ast.Lambda) or inner is helper:
        return False
    return any(value is not None and made & names_in(value) and host_cut(
        source, inner, name, depth - 1) for name, value in bound_arguments(inner, call).items())


class HostRoundTrip(Rule):
    """MLX069: `self.helper(self.layer(x))` in a forward, where the helper's result reaches
    its argument only through `np.array(...)`, `.tolist()` or `.item()`."""

    id = "MLX069"
    anchors = ("return mx.array(",)
    local = True  # reads the helpers, their callers, the differentiating code and callees

    @staticmethod
    def may_fire(text: str) -> bool:
        return "return mx.array(" in text and any(h in text for h in HOST_TEXT) and (
            "__call__" in text or "grad(" in text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool]:
        """Blocks that may hold a helper (a host copy and `return mx.array(`), blocks that
        name what those define (its callers) or differentiate, and what they all call."""
        return around(text, lambda b: "return mx.array(" in b and any(
            h in b for h in HOST_TEXT), also=lambda b: "grad(" in b).__contains__

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for function in forwards(source):
            nodes = body_nodes(source, function)
            bound = name_bindings(assignments(nodes))
            for call in calls(nodes):
                helper = helper_of(source, call)
                if helper is None or isinstance(helper, ast.Lambda) or helper is function:
                    continue
                given = bound_arguments(helper, call)
                if any(value is not None and layer_output(source, value, bound)
                       and host_cut(source, helper, name) for name, value in given.items()):
                    yield self.hit(source, call)
