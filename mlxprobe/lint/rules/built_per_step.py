"""MLX178: a layer or model built inside a differentiated function (`model16 = Net()` in the
loss, to copy the weights into): the loss runs at every step, each layer built draws its
initial weights from MLX's global random key, and the drawn weights are replaced or dropped
unevaluated, so `mx.random.state` chains every draw of the run: memory grows at every step
until the process is killed (ml-explore/mlx#2711: the internal random state is updated by
every draw, used or not, and evaluating it later runs every split).

Measured (mlx 0.32.4 CPU, failure corpus fresh115 `ropeway_sag_nll_bf16`, a loss that built a
bf16 copy of its 4-layer model at every call): max RSS 58 / 69 / 90 / 133 MB at 600 / 1,200 /
2,400 / 4,800 steps (+17.6 KB a step), MLX's own memory flat; built once, 48 MB at 1,200 and
at 4,800 steps with the same losses. 20,000 `nn.Linear(48, 48)` built in a loop reach 107 MB,
21 MB with `mx.eval(mx.random.state)` after each.

Job: in each function run under `mx.grad`/`value_and_grad` (with the helpers it calls), a
call that builds an `mlx.nn` layer whose weights are drawn at random, or one of the module's
own `nn.Module` classes whose `__init__` builds one; not when the file evaluates
`mx.random.state` anywhere.
Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..dataflow import under
from ..finding import Finding
from ..flow import calls, method_of, reach
from ..source import SourceFile
from .base import DIFFERENTIATES, Rule
from .construction import module_classes

RANDOM_LAYERS = frozenset(f"mlx.nn.{name}" for name in (
    "Linear", "Bilinear", "Embedding", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "MultiHeadAttention", "RNN", "GRU", "LSTM",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "QuantizedLinear", "QuantizedEmbedding"))


def random_classes(source: SourceFile) -> set[str]:
    """The module's own nn.Module classes whose `__init__` builds a random layer."""
    found = set()
    for cls in module_classes(source):
        init = method_of(cls, "__init__")
        if init is not None and any(source.imports.resolve(c.func) in RANDOM_LAYERS
                                    for c in calls(reach(source, init.body))):
            found.add(cls.name)
    return found


def builds_random(source: SourceFile, call: ast.Call, local: set[str]) -> bool:
    """`call` builds a layer whose weights are drawn at random."""
    return source.imports.resolve(call.func) in RANDOM_LAYERS or (
        isinstance(call.func, ast.Name) and call.func.id in local)


class ModuleBuiltPerStep(Rule):
    """MLX178: `model16 = Net()` inside the differentiated loss: a random draw per step."""

    id = "MLX178"
    anchors = DIFFERENTIATES

    @staticmethod
    def may_fire(text: str) -> bool:
        return "grad(" in text and "random.state" not in text

    def check(self, source: SourceFile) -> Iterator[Finding]:
        local = random_classes(source)
        seen: set[int] = set()
        for _, nodes in under(source, "grad"):
            for call in calls(nodes):
                if id(call) not in seen and builds_random(source, call, local):
                    seen.add(id(call))
                    yield self.hit(source, call)
