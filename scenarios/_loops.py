"""Loop helpers shared by the accumulation, clipping, NaN and fallback scenarios.

Job: the pieces several scenario loops use in the same way, so that each scenario module shows
only its own bug: the TinyLM set-up, a micro-batch gradient accumulator, the global gradient
norm (with the correct `tree_flatten` unpacking), parameter finiteness and change, the high-LR
SGD setting of the clipping scenarios, and the fixed variants' "held-out loss fell" check.

May import mlx, numpy and the standard library only (never `mlxprobe.runner` or other parent-side
modules): it runs inside scenario child processes.

Measured (mlx 0.32.4 CPU build, 2 cores, 2026-11-21), default TinyLM, batch 8 x seq 32, plain
SGD with momentum 0.9, 120 steps: without clipping, lr 1.0 spiked to a loss of 1.6e8 and then
sat at ln 256 = 5.545 with a gradient of exactly 0, and lr 1.5, 2.0 and 3.0 reached NaN
losses. Clipped, it trained when lr x max_norm was 0.5 (lr 2.0 / 0.25: validation 3.09), 0.75
(lr 3.0 / 0.25, lr 1.5 / 0.5) or 1.0 (lr 2.0 / 0.5: 3.50), and failed at 1.5 (lr 3.0 / 0.5:
validation 10.1) and 2.0 (lr 2.0 / 1.0: validation 30). So `HIGH_LR` 2.0 with `MAX_NORM` 0.25
sits a factor of two above the unclipped edge and a factor of three below the clipped one.
The "dead" state after a blow-up (seen in several of these scenarios): the parameters are
finite but huge (embedding up to 1.7e9 in one such run), the attention output reaches ~3e20,
the mean of squares inside the next RMSNorm overflows float32 to inf and its output is
exactly 0, so the logits are all 0: the loss is exactly ln 256 and the gradient exactly 0.
Some runs stay there to the end; in others momentum moves the parameters on until they are NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

from ._lm import TinyLM, make_model, next_token_loss
from ._text import split

HIGH_LR = 2.0  # SGD learning rate at which the unclipped TinyLM loop blows up (see above)
MOMENTUM = 0.9
MAX_NORM = 0.25  # global gradient norm that keeps HIGH_LR stable


@dataclass
class LMSetup:
    """A fresh TinyLM, its loss-and-gradient function and the (train, validation) bytes."""

    model: TinyLM
    loss_and_grad: Callable[..., tuple[mx.array, dict]]  # nn.value_and_grad(model, loss)
    train: np.ndarray
    valid: np.ndarray


def lm_setup(seed: int = 0, loss: Callable[..., mx.array] = next_token_loss) -> LMSetup:
    """The default TinyLM (deterministic per seed) with `nn.value_and_grad(model, loss)`."""
    model = make_model(seed)
    train, valid = split()
    return LMSetup(model, nn.value_and_grad(model, loss), train, valid)


def high_lr_sgd() -> optim.SGD:
    """The clipping scenarios' optimizer: SGD with momentum at `HIGH_LR`."""
    return optim.SGD(learning_rate=HIGH_LR, momentum=MOMENTUM)


@dataclass
class Accumulated:
    """What a `GradAccumulator` held when it was popped."""

    grads: dict  # the SUM of the micro-batch gradients
    loss: float  # mean micro-batch loss
    micro_batches: int
    samples: int


@dataclass
class GradAccumulator:
    """Sums micro-batch gradients (evaluated as they arrive) and counts what went in."""

    grads: dict | None = None
    losses: list[float] = field(default_factory=list)
    samples: int = 0

    @property
    def count(self) -> int:
        return len(self.losses)

    def add(self, loss: mx.array, grads: dict, samples: int) -> None:
        self.grads = grads if self.grads is None else tree_map(mx.add, self.grads, grads)
        mx.eval(loss, self.grads)
        self.losses.append(loss.item())
        self.samples += samples

    def pop(self) -> Accumulated:
        """The summed gradients and counts so far; the accumulator starts empty again."""
        out = Accumulated(self.grads, sum(self.losses) / self.count, self.count, self.samples)
        self.grads, self.losses, self.samples = None, [], 0
        return out


def scale_grads(grads: dict, factor: float) -> dict:
    return tree_map(lambda g: g * factor, grads)


def global_norm(grads: dict) -> mx.array:
    """L2 norm over every array of a gradient tree (what `optim.clip_grad_norm` computes)."""
    return mx.sqrt(sum(mx.sum(g * g) for _, g in tree_flatten(grads)))


def params_finite(model: nn.Module) -> bool:
    """True when every parameter (trainable or frozen) is free of NaN and inf."""
    flags = [mx.all(mx.isfinite(p)) for _, p in tree_flatten(model.parameters())]
    return bool(mx.all(mx.stack(flags)).item())


def snapshot(model: nn.Module) -> list[tuple[str, mx.array]]:
    """The trainable parameters as they are now (MLX arrays are immutable: no copy needed)."""
    return tree_flatten(model.trainable_parameters())


def param_delta(before: list[tuple[str, mx.array]], model: nn.Module) -> float:
    """L2 norm of how far the trainable parameters moved since `before` was taken."""
    after = dict(tree_flatten(model.trainable_parameters()))
    return mx.sqrt(sum(mx.sum(mx.square(after[k] - v)) for k, v in before)).item()


def check_drop(probe, name: str, before: float, after: float, min_drop: float,  # noqa: ANN001
               hint: str = "", **evidence: object) -> None:
    """Fixed variants: `name` fell from `before` to `after` by at least `min_drop` (relative)."""
    drop = (before - after) / before
    probe.check(f"{name} fell by a clear margin", drop >= min_drop, hint=hint,
                **{f"{name}_before": before, f"{name}_after": after, "drop": round(drop, 4),
                   "min_drop": min_drop}, **evidence)
