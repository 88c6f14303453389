"""Adapter (LoRA) fine-tune of a 4-bit quantized MLP classifier.

The base network stands in for a downloaded checkpoint: we quantize it,
attach low-rank adapters to every linear projection and train only the
adapters on a new labelling task.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("adapter-ft")


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank=8, alpha=16, dropout=0.0, scale=10.0):
        output_dims, input_dims = linear.weight.shape
        if isinstance(linear, nn.QuantizedLinear):
            input_dims *= 32 // linear.bits
        bias = "bias" in linear
        lora_lin = LoRALinear(input_dims, output_dims, rank, alpha, dropout, scale, bias)
        lora_lin.linear = linear
        return lora_lin

    def __init__(self, input_dims, output_dims, rank=8, alpha=16, dropout=0.0,
                 scale=10.0, bias=False):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.dropout = nn.Dropout(p=dropout)
        self.scale = scale * (alpha / rank)
        bound = 1.0 / np.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-bound, high=bound, shape=(input_dims, rank))
        self.lora_b = mx.zeros((rank, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (self.dropout(x) @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Classifier(nn.Module):
    def __init__(self, d_in=64, hidden=128, n_cls=8):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.norm1 = nn.RMSNorm(hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.norm2 = nn.RMSNorm(hidden)
        self.head = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        h = self.norm1(nn.gelu(self.fc1(x)))
        h = self.norm2(nn.gelu(self.fc2(h)))
        return self.head(h)


def init_lora(model, rank=8, alpha=16, scale=1.0):
    lora_modules = [
        (key, LoRALinear.from_linear(module, rank=rank, alpha=alpha, scale=scale))
        for key, module in model.named_modules()
        if isinstance(module, nn.Linear)
    ]
    if len(lora_modules) == 0:
        log.error("No target modules found for LoRA: all_linear")
    model.update_modules(tree_unflatten(lora_modules))
    n = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("LoRA rank %d on %d modules, %d trainable parameters", rank, len(lora_modules), n)
    return lora_modules


TEACHER = np.random.default_rng(123).standard_normal((64, 8)).astype(np.float32)


def make_task(n, d_in=64, n_cls=8, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in)).astype(np.float32)
    w = TEACHER
    y = np.argmax(x @ w + 0.3 * np.sin(3 * x[:, :n_cls]), axis=1).astype(np.int32)
    return mx.array(x), mx.array(y)


def main():
    mx.random.seed(0)
    model = Classifier()
    mx.eval(model.parameters())

    nn.quantize(model, group_size=64, bits=4)
    log.info("Quantized base model to 4 bits")

    init_lora(model, rank=8, alpha=16, scale=1.0)

    xtr, ytr = make_task(2048)
    xva, yva = make_task(512, seed=2)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    optimizer = optim.Adam(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    batch = 128
    steps = 600
    rng = np.random.default_rng(0)
    tic = time.perf_counter()
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=batch))
        loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if step % 50 == 0 or step == 1:
            acc = (mx.argmax(model(xva), axis=1) == yva).mean().item()
            log.info("Iter %4d: train loss %.4f, val acc %.3f, %.1fs",
                     step, loss.item(), acc, time.perf_counter() - tic)

    acc = (mx.argmax(model(xva), axis=1) == yva).mean().item()
    log.info("Finished: val acc %.3f", acc)


if __name__ == "__main__":
    main()
