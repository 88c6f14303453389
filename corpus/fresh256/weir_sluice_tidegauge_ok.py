"""Tide-gauge level regression: half-precision full finetune of a small MLP.

Predicts the water level at a weir gauge (centimetres above datum) from
eight upstream sensor readings. Weights, activations and gradients are kept
in float16 like a half-precision finetune; the loss itself
is reduced in float32.
"""
import math
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_reduce, tree_unflatten


def clip_grad_norm(grads, max_norm):
    """Clips the global norm of the gradients."""
    norm_squared = tree_reduce(lambda acc, g: acc + g.square().sum(), grads, 0.0)
    total_norm = mx.sqrt(norm_squared)
    normalizer = mx.minimum(max_norm / (total_norm + 1e-6), 1.0)
    clipped_grads = tree_map(lambda g: g * normalizer, grads)
    return clipped_grads, total_norm


def _clip_grad_norm_fp32(grad, max_norm):
    """Global norm clipping with a float32 norm reduction.

    Keep clipped leaves in their original dtype, but compute the single
    global scale in fp32.
    """
    norm_squared = tree_reduce(
        lambda acc, g: acc + mx.sum(mx.square(g.astype(mx.float32))),
        grad,
        mx.array(0.0, dtype=mx.float32),
    )
    total_norm = mx.sqrt(norm_squared)
    scale = mx.minimum(
        mx.array(max_norm, dtype=mx.float32) / (
            total_norm + mx.array(1e-6, dtype=mx.float32)
        ),
        mx.array(1.0, dtype=mx.float32),
    )
    return tree_map(lambda g: g * scale.astype(g.dtype), grad), total_norm


@dataclass
class TrainingConfig:
    learning_rate: float = 3e-2
    weight_decay: float = 0.0
    adam_epsilon: float = 1e-4
    max_grad_norm: float = 1.0
    max_steps: int = 400
    batch_size: int = 64
    logging_steps: int = 25
    warmup_steps: int = 20
    seed: int = 7


class GaugeNet(nn.Module):
    def __init__(self, n_in=8, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(n_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.head(h).squeeze(-1)


def make_data(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 8), key=k1)
    w = mx.array([6.0, -4.0, 3.0, 0.0, 2.5, -1.5, 0.0, 1.0])
    level = 60.0 + x @ w + 3.0 * mx.tanh(x[:, 0] * x[:, 1])
    level = level + 0.5 * mx.random.normal((n,), key=k2)
    return x.astype(mx.float16), level.astype(mx.float32)


def main():
    cfg = TrainingConfig()
    mx.random.seed(cfg.seed)
    key = mx.random.key(cfg.seed)
    ktr, kva = mx.random.split(key)
    x_tr, y_tr = make_data(4096, ktr)
    x_va, y_va = make_data(1024, kva)

    model = GaugeNet()
    model.set_dtype(mx.float16)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params={n_params} dtype={model.l1.weight.dtype} steps={cfg.max_steps}")

    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps),
         optim.cosine_decay(cfg.learning_rate, cfg.max_steps - cfg.warmup_steps, 1e-3)],
        [cfg.warmup_steps],
    )
    optimizer = optim.AdamW(learning_rate=schedule, eps=cfg.adam_epsilon,
                            weight_decay=cfg.weight_decay)

    def loss_fn(m, x, y):
        pred = m(x).astype(mx.float32)
        return mx.mean(mx.square(pred - y))

    value_and_grad = nn.value_and_grad(model, loss_fn)

    def eval_rmse():
        pred = model(x_va).astype(mx.float32)
        return math.sqrt(mx.mean(mx.square(pred - y_va)).item())

    baseline = math.sqrt(mx.mean(mx.square(y_va - mx.mean(y_tr))).item())
    print(f"baseline rmse (predict train mean) = {baseline:.3f} cm")
    print(f"step 0 val_rmse={eval_rmse():.3f} cm")

    t0 = time.time()
    running = 0.0
    n = x_tr.shape[0]
    for step in range(1, cfg.max_steps + 1):
        idx = mx.random.randint(0, n, (cfg.batch_size,))
        loss, grad = value_and_grad(model, x_tr[idx], y_tr[idx])
        grad_norm = None
        if cfg.max_grad_norm > 0:
            grad, grad_norm = _clip_grad_norm_fp32(grad, max_norm=cfg.max_grad_norm)
        optimizer.update(model, grad)
        mx.eval(model.parameters(), optimizer.state, loss, grad_norm)
        running += loss.item()
        if step % cfg.logging_steps == 0:
            lr = optimizer.learning_rate.item()
            print(f"step {step:4d} loss={running / cfg.logging_steps:10.3f} "
                  f"grad_norm={grad_norm.item():10.3f} lr={lr:.5f} "
                  f"val_rmse={eval_rmse():8.3f}")
            running = 0.0

    final = eval_rmse()
    print(f"final val_rmse={final:.3f} cm (baseline {baseline:.3f} cm) "
          f"time={time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
