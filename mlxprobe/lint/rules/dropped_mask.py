"""MLX152: a module's `__call__` takes a mask (`mask`, `attn_mask`, `attention_mask`) and
never reads it, while it calls a layer of its own that takes a mask (a same-module class
whose `__call__` has one, or `nn.MultiHeadAttention`): the mask is dropped on its way down,
so attention runs unmasked, and a causal language model sees the tokens it is asked to
predict (its training loss falls far below what it can reach at generation).

Measured (mlx 0.32.4 CPU, failure corpus fresh46 `unset_attn_mask_lm`, moshi issue 158): a
transformer block `def __call__(self, x, mask=None): x = x + self.attn(self.n1(x))` reached a
teacher-forced validation CE of 0.063, below its data's entropy (1.465), while its
generation-time (prefix) CE stayed 2.35; with `self.attn(..., mask=mask)` the two agreed
(1.47, 1.45).

Job: for each module class whose `__call__` has a `mask` parameter that no expression of its
body reads, a call in that body of `self.<layer>(...)` where `<layer>` was built from an
attention class of the same file (its `__call__` hands its mask to
`scaled_dot_product_attention`) or `nn.MultiHeadAttention`; the finding is on that call.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator

from ..finding import Finding
from ..flow import body_assignments
from ..names import dotted, last_name
from ..source import SourceFile
from .base import Rule

MASK = re.compile(r"^mask$")  # `attention_mask` is often taken for an API and unused by design
ATTENTION = frozenset({"mlx.nn.MultiHeadAttention"})
MASK_ARG = re.compile(r"[(,]\s*mask\b")


def drops_mask_text(text: str) -> bool:
    """A `def __call__` in `text` with a `mask` parameter whose body never says `mask`."""
    at = text.find("def __call__")
    while at != -1:
        end = text.find("\n    def ", at + 1)
        chunk = text[at:end if end != -1 else len(text)]
        head, _, body = chunk.partition(":\n")
        if MASK_ARG.search(head) and "mask" not in body:
            return True
        at = text.find("def __call__", at + 1)
    return False


def call_method(cls: ast.ClassDef) -> ast.FunctionDef | None:
    return next((n for n in cls.body if isinstance(n, ast.FunctionDef)
                 and n.name == "__call__"), None)


def mask_parameter(function: ast.FunctionDef | None) -> str | None:
    if function is None:
        return None
    names = [a.arg for a in (*function.args.args, *function.args.kwonlyargs)]
    return next((n for n in names if MASK.search(n)), None)


def attends(source: SourceFile, function: ast.FunctionDef | None) -> bool:
    """An attention layer: its `__call__` hands its mask parameter to
    `mx.fast.scaled_dot_product_attention` (or a function of that name) itself. A whole
    model that takes a mask and builds its own causal one when given none is not one (its
    dropped mask may be an API's, unused by design)."""
    mask = mask_parameter(function)
    if mask is None:
        return False
    for call in (n for n in ast.walk(function) if isinstance(n, ast.Call)):
        named = (source.imports.resolve(call.func) or "").rpartition(".")[2] or last_name(
            call.func)
        passed = [*call.args, *(k.value for k in call.keywords)]
        if named == "scaled_dot_product_attention" and any(
                isinstance(a, ast.Name) and a.id == mask for a in passed):
            return True
    return False


class DroppedMask(Rule):
    """MLX152: `def __call__(self, x, mask=None): x = x + self.attn(self.n1(x))`."""

    id = "MLX152"
    anchors = ("mask",)

    local = True  # reads the blocks that attend and those that may drop a mask (`wanted`)

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `def __call__` with a `mask` parameter whose body never says `mask` again, in a
        file with an attention layer (text only: model files with masks are most of three
        packages, and parsing them for this rule doubled lint's time)."""
        return ("scaled_dot_product_attention(" in text or "MultiHeadAttention(" in text) \
            and drops_mask_text(text)

    @classmethod
    def wanted(cls, text: str) -> Callable[[str], bool] | None:
        """The blocks that attend (their classes are the mask's takers) and those whose
        `__call__` may drop one: 56 files of the three packages were parsed whole for this
        rule alone before (0.46 MB)."""
        return lambda block: ("scaled_dot_product_attention(" in block
                              or "MultiHeadAttention(" in block or drops_mask_text(block))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        classes = {c.name: c for c in source.of_type(ast.ClassDef)}
        masked = {name for name, c in classes.items() if attends(source, call_method(c))}
        for cls in classes.values():
            method = call_method(cls)
            mask = mask_parameter(method)
            if method is None or mask is None or any(
                    isinstance(n, ast.Name) and n.id == mask and isinstance(n.ctx, ast.Load)
                    for n in ast.walk(method)):
                continue
            takers = self._takers(source, cls, masked)
            for call in (n for n in ast.walk(method) if isinstance(n, ast.Call)):
                parts = dotted(call.func)
                if parts and len(parts) == 2 and parts[0] == "self" and parts[1] in takers:
                    yield self.hit(source, call)

    @staticmethod
    def _takers(source: SourceFile, cls: ast.ClassDef, masked: set[str]) -> set[str]:
        """`self.<name>` built from a class that takes a mask."""
        found = set()
        for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            for target, value in body_assignments(source, method):
                parts = dotted(target)
                if not (parts and len(parts) == 2 and parts[0] == "self"
                        and isinstance(value, ast.Call)):
                    continue
                made = source.imports.resolve(value.func) or ""
                local = value.func.id if isinstance(value.func, ast.Name) else None
                if made in ATTENTION or local in masked:
                    found.add(parts[1])
        return found
