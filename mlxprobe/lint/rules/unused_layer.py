"""MLX265: a layer with parameters built in a model's `__init__` and read nowhere in a file
that trains it and loads no weights: the forward never calls it, so its parameters take no
part in the loss, get a zero gradient at every step, and keep their initial values; whatever
the layer was built to add (a gate, a projection, a norm) is missing from the model.

Measured (mlx 0.32.4 CPU, failure corpus fresh290 `fennel_tideflat_spectral_gate`, from
dnakov/llm-asi-arch dac31cd): a DeltaNet mixer built `self.g_proj = nn.Linear(...)` under
`use_gate=True` but its forward only did `out = self.o_norm(v_spec)`; `g_proj`'s weights
kept their initial values through training (watch: `no_update:part`); multiplied in as
`o_norm(v_spec) * sigmoid(g_proj(h))` they trained. Over every corpus, scenario and example
script that trains, three files hold such a layer, all three marked broken.

Job: in an nn.Module subclass's `__init__`, `self.x = nn.T(...)` where `T` is a layer with
parameters (a linear, convolution, embedding, norm, attention or recurrent layer), `.x` is
read nowhere in the file and named in no string (`getattr`, `freeze(keys=[...])`), in a
file that trains and loads no weights (no `load_weights`, `mx.load`, `load_safetensors`,
`from_pretrained`: a checkpoint may hold layers a model keeps unused). MLX131 covers layers
without parameters.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..finding import Finding
from ..source import SourceFile
from .base import Rule, trains
from .siblings import built_layers, inits, unread_attributes

WITH_PARAMETERS = frozenset(f"mlx.nn.{name}" for name in (
    "Linear", "Bilinear", "Embedding", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "MultiHeadAttention", "RNN", "GRU", "LSTM",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "LayerNorm", "RMSNorm", "GroupNorm", "BatchNorm",
    "QuantizedLinear", "QuantizedEmbedding"))
LOADS = ("load_weights", "mx.load(", "load_safetensors", "from_pretrained", "load_model(",
         "load_adapters")


class UnusedLayer(Rule):
    """MLX265: `self.g_proj = nn.Linear(d, d)` in `__init__`, and no `.g_proj` anywhere."""

    id = "MLX265"
    anchors = ("= nn.",)

    @staticmethod
    def may_fire(text: str) -> bool:
        return "= nn." in text and trains(text) and not any(w in text for w in LOADS)

    def check(self, source: SourceFile) -> Iterator[Finding]:
        unread = unread_attributes(source)
        for init in inits(source):
            for name, (kind, target) in built_layers(source, init).items():
                if kind in WITH_PARAMETERS and name in unread:
                    yield self.hit(source, target)
