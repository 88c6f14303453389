"""QLoRA on a TinyLM: a frozen 4-bit quantized base with trainable LoRA adapters.

Job: the shared model for scenarios about adapter training (what trains, what stays frozen,
what a quantized base does to gradients). `make_qlora_model` takes the short-pretrained TinyLM
from `_checkpoint` (or a random one), quantizes its Linear layers with
`nn.quantize(group_size=32, bits=4)` (every Linear input size is a multiple of 32), freezes the
whole base, then wraps the attention q/v projections in `LoRALinear`: frozen base + trainable
`lora_a` (in, rank; small uniform) and `lora_b` (rank, out; zeros), output
`base(x) + scale * (x @ lora_a) @ lora_b`. At init the adapters add exactly zero.
The adaptation task, `finetune_split`, is the pretraining corpus UPPER-CASED: a domain shift the
pretrained base is bad at, so the adapters have something clear to learn. (On the unchanged
corpus the pretrained base is already near what q/v adapters can reach: 2.71 -> 2.67.)

May import mlx, numpy and the standard library only (never `mlxprobe.runner` or other parent-side
modules): it runs inside scenario child processes.

Measured (mlx 0.32.4 CPU build, 2 cores, 2026-11-21), default TinyLM pretrained 300 steps
(`_checkpoint`), rank 8, scale 2.0, AdamW lr 1e-2, batch 8 x seq 32 of `finetune_split()[0]`,
correct loop (`nn.value_and_grad(model, next_token_loss)` + `optimizer.update` +
`mx.eval(loss, model.parameters(), optimizer.state)`):
  - 1,024 trainable / 11,744 frozen stored elements (4-bit weights are packed 8 per uint32);
  - one training step: ~7.5 ms (median);
  - upper-case validation loss (`_lm.evaluate`): 5.09 at init -> 3.47 after 100 steps ->
    3.35 after 300; every frozen array (28) is bit-identical after training, and only the
    four lora_a/lora_b arrays get gradients. (From a random base instead: 5.73 -> 4.96.)
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from ._checkpoint import load_pretrained
from ._lm import TinyLM, make_model
from ._text import corpus, split

GROUP_SIZE = 32
BITS = 4
TARGETS: tuple[str, ...] = ("q_proj", "v_proj")


class LoRALinear(nn.Module):
    """A frozen (quantized) linear layer plus a trainable low-rank update."""

    def __init__(self, base: nn.Module, input_dims: int, output_dims: int, rank: int = 8,
                 scale: float = 2.0) -> None:
        super().__init__()
        self.base = base
        self.scale = scale
        bound = 1.0 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (input_dims, rank))
        self.lora_b = mx.zeros((rank, output_dims))

    def __call__(self, x: mx.array) -> mx.array:
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def linear_dims(layer: nn.Linear | nn.QuantizedLinear) -> tuple[int, int]:
    """(input_dims, output_dims) of a float or quantized linear layer."""
    out_dims, width = layer.weight.shape
    if isinstance(layer, nn.QuantizedLinear):
        return width * 32 // layer.bits, out_dims
    return width, out_dims


def apply_lora(model: nn.Module, targets: tuple[str, ...] = TARGETS, rank: int = 8,
               scale: float = 2.0) -> nn.Module:
    """Replace every sub-module whose name is in `targets` with a LoRALinear around it."""
    swaps = [
        (path, LoRALinear(layer, *linear_dims(layer), rank=rank, scale=scale))
        for path, layer in model.named_modules()
        if path.rsplit(".", 1)[-1] in targets
    ]
    model.update_modules(tree_unflatten(swaps))
    return model


def make_qlora_model(seed: int = 0, pretrained_steps: int | None = 300, rank: int = 8,
                     scale: float = 2.0, targets: tuple[str, ...] = TARGETS) -> TinyLM:
    """4-bit frozen TinyLM (pretrained for `pretrained_steps`, or random if None) + LoRA."""
    model = load_pretrained(pretrained_steps) if pretrained_steps else make_model(seed)
    nn.quantize(model, group_size=GROUP_SIZE, bits=BITS,
                class_predicate=lambda _, layer: isinstance(layer, nn.Linear))
    model.freeze()
    mx.random.seed(seed)
    apply_lora(model, targets, rank, scale)
    mx.eval(model.parameters())
    return model


def finetune_split(train_frac: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """The adaptation task: the same corpus UPPER-CASED, split like `_text.split`."""
    return split(train_frac, corpus().upper())


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Stored elements: {"trainable": ..., "frozen": ...} (quantized weights count packed)."""
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    total = sum(v.size for _, v in tree_flatten(model.parameters()))
    return {"trainable": trainable, "frozen": total - trainable}
