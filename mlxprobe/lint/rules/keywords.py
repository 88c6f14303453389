"""MLX141: an `mlx.core` function (or one of `mx.linalg`, `mx.fft`, `mx.random`, `mx.fast`),
or an `mlx.optimizers` optimizer, called with a keyword it does not take: a TypeError
("incompatible function arguments") at the first call. Users bring keywords from PyTorch
and NumPy (`dim=`, `keepdim=`, `size=`, `min=`), which MLX spells otherwise
(`axis=`, `keepdims=`, `shape=`, positional bounds).

Measured (mlx 0.32.4 CPU, failure corpus fresh41 `e2_infill_concat_cond`, lucidrains'
e2-tts port): `mx.concatenate((cond, x), dim=-1)` in the model's forward raised TypeError
inside the first `nn.value_and_grad` call; `axis=-1` trained. Failure corpus fresh186
`cellbox_adam_wd_kwarg` (a YOLO trainer's `optim.Adam(learning_rate=lr,
weight_decay=weight_decay)`): TypeError before the first step; `optim.AdamW` takes it.

Job: every call whose function resolves to a name of `mlx_keywords.KEYWORDS` (the keyword
parameters of each function, from the nanobind signatures of the installed mlx) or of
`mlx_keywords.OPTIMIZERS` (each optimizer's constructor), in a
program that trains: each keyword argument it does not list is a finding.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..finding import Finding
from ..mlx_keywords import KEYWORDS, OPTIMIZERS
from ..source import SourceFile
from .base import Rule, trains


class UnknownKeyword(Rule):
    """MLX141: `mx.concatenate(xs, dim=-1)`: MLX's keyword is `axis`."""

    id = "MLX141"
    anchors = ("=",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "mx." in text and trains(text)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        for call in source.of_type(ast.Call):
            if not call.keywords:
                continue
            name = source.imports.resolve(call.func) or ""
            taken = KEYWORDS.get(name, OPTIMIZERS.get(name))  # frozenset(): no keyword
            # at all (`mx.eval(x, stream=mx.gpu)`: fresh230 `tollgate_chime_grpo`)
            if taken is None:
                continue
            for keyword in call.keywords:
                if keyword.arg is not None and keyword.arg not in taken:
                    yield self.hit(source, keyword)
