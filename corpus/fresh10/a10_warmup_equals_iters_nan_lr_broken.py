"""Short fine-tune of a small regressor with linear warmup + cosine decay.

Defaults mirror a trainer config: warmup_steps=100, iters=100.
"""
import argparse
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

p = argparse.ArgumentParser()
p.add_argument("--iters", type=int, default=100)
p.add_argument("--warmup-steps", type=int, default=100)
p.add_argument("--learning-rate", type=float, default=2e-3)
p.add_argument("--min-learning-rate", type=float, default=1e-5)
p.add_argument("--steps-per-report", type=int, default=10)
args = p.parse_args()

rng = np.random.default_rng(3)
mx.random.seed(3)
W_true = rng.normal(size=(16, 1)).astype(np.float32)
X = rng.normal(size=(4096, 16)).astype(np.float32)
Y = np.tanh(X @ W_true) + 0.05 * rng.normal(size=(4096, 1)).astype(np.float32)
Xtr, Ytr, Xva, Yva = mx.array(X[:3584]), mx.array(Y[:3584]), mx.array(X[3584:]), mx.array(Y[3584:])


def get_learning_rate(it, iters, warmup_steps, lr, min_lr):
    """Linear warmup, then cosine decay to min_lr over the remaining iters."""
    if it < warmup_steps:
        return lr * it / warmup_steps
    decay_steps = iters - warmup_steps
    progress = mx.array(it - warmup_steps, dtype=mx.float32) / decay_steps
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + mx.cos(math.pi * progress))


model = nn.Sequential(nn.Linear(16, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=args.learning_rate, weight_decay=0.0)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


step = nn.value_and_grad(model, loss_fn)
val_loss = loss_fn(model, Xva, Yva).item()
print(f"Iter 1: Val loss {val_loss:.4f}", flush=True)
t0 = time.time()
losses = []
for it in range(1, args.iters + 1):
    idx = mx.array(rng.integers(0, Xtr.shape[0], size=64))
    opt.learning_rate = get_learning_rate(it, args.iters, args.warmup_steps,
                                          args.learning_rate, args.min_learning_rate)
    loss, grads = step(model, Xtr[idx], Ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    losses.append(loss.item())
    if it % args.steps_per_report == 0:
        lr_now = opt.learning_rate.item()
        print(f"Iter {it}: Train loss {np.mean(losses):.4f}, Learning Rate {lr_now:.3e}, "
              f"It/sec {it / (time.time() - t0):.1f}", flush=True)
        losses = []
val_loss = loss_fn(model, Xva, Yva).item()
print(f"Iter {args.iters}: Val loss {val_loss:.4f}", flush=True)
mx.save_safetensors("/tmp/a10_warmup_adapters.safetensors",
                    dict(__import__("mlx.utils").utils.tree_flatten(model.parameters())))
print("Saved final weights.")
