"""MLX131: a parameter-free layer built in `__init__` and never used: the forward skips the
step the layer was built to add.

Job: in an nn.Module subclass, find `self.x = nn.T(...)` where `T` has no parameters and
changes what the model computes (a position encoding: `nn.RoPE`, `nn.ALiBi`,
`nn.SinusoidalPositionalEncoding`; an activation), and `.x` is read nowhere in the file (nor
named in a string, for `getattr`). A layer with parameters may be kept to load weights; one
without any has no use but to be called, so an unread one is a call left out: an unused
position encoding leaves attention blind to order, an unused activation leaves two layers
one linear map. Dropout is left alone (without it the model still learns).

Measured (mlx 0.32.4 CPU, failure corpus fresh30 `rope_built_never_applied`, lmxlab's "RoPE
was created but never called"): on a lag-3 copy task the loss sat at 2.12 (chance 2.77)
after 300 steps with val_acc 0.22; with the RoPE passed to the attention it reached 0.0009
and val_acc 1.000 by step 50.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..finding import Finding
from ..markers import read_once
from ..source import SourceFile
from .base import Rule
from .siblings import built_layers, inits, unread_attributes

POSITIONAL = ("RoPE", "ALiBi", "SinusoidalPositionalEncoding")
ACTIVATIONS = ("ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Mish", "ELU", "SELU", "CELU",
               "Sigmoid", "Tanh", "Softplus", "Softsign", "Hardswish", "HardTanh", "GLU",
               "LogSigmoid", "Step")
STATELESS = frozenset(f"mlx.nn.{name}" for name in POSITIONAL + ACTIVATIONS)
BUILT = re.compile(r"self\.(\w+)\s*=\s*(?:nn\.)?(" + "|".join(POSITIONAL + ACTIVATIONS)
                   + r")\(")


class UnappliedLayer(Rule):
    """MLX131: `self.rope = nn.RoPE(d)` in `__init__`, and no `.rope` anywhere else."""

    id = "MLX131"
    anchors = ("self.",)
    local = False

    @staticmethod
    def may_fire(text: str) -> bool:
        """A `self.x = nn.T(` of a parameter-free layer whose `.x` occurs nowhere else."""
        return any(read_once(text, name) for name, _ in BUILT.findall(text))

    def check(self, source: SourceFile) -> Iterator[Finding]:
        unread = unread_attributes(source)
        for init in inits(source):
            for name, (kind, target) in built_layers(source, init).items():
                if kind in STATELESS and name in unread:
                    yield self.hit(source, target)
