#!/usr/bin/env python
"""Fit a small MLP denoiser with SGD+momentum and a warmup + cosine learning-rate schedule."""
import argparse
import math
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import SGD


def parse():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--learning-rate", type=float, default=0.05)
    p.add_argument("--warmup", type=int, default=0,
                   help="number of linear warmup iterations (0 = no warmup)")
    p.add_argument("--batch-size", type=int, default=64)
    return p.parse_args()


def lr_at(step, args):
    warm = min(1.0, step / max(1, args.warmup))
    progress = step / args.iters
    return args.learning_rate * warm * 0.5 * (1 + math.cos(math.pi * progress))


def main():
    args = parse()
    mx.random.seed(2)
    denoiser = nn.Sequential(nn.Linear(16, 48), nn.ReLU(), nn.Linear(48, 16))
    opt = SGD(learning_rate=args.learning_rate, momentum=0.9)

    def objective(x_noisy, x_clean):
        return ((denoiser(x_noisy) - x_clean) ** 2).mean()

    step_grad = nn.value_and_grad(denoiser, objective)
    basis = mx.random.normal((3, 16))
    t0 = time.time()
    for step in range(args.iters):
        clean = mx.random.normal((args.batch_size, 3)) @ basis
        noisy = clean + 0.3 * mx.random.normal(clean.shape)
        opt.learning_rate = lr_at(step, args)
        loss, grads = step_grad(noisy, clean)
        opt.update(denoiser, grads)
        mx.eval(denoiser.parameters(), opt.state)
        if step % 100 == 0 or step == args.iters - 1:
            print(f"step {step:3d}  lr {lr_at(step, args):.4f}  loss {loss.item():.4f}")
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
