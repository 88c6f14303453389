"""Toy speech-enhancement trainer: a small mask network learns to suppress noise
in synthetic magnitude spectra (harmonic 'voice' + broadband hiss)."""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_BINS = 48
rng = np.random.default_rng(7)


def make_batch(n):
    f = np.arange(N_BINS)[None, :]
    f0 = rng.uniform(2.0, 6.0, size=(n, 1))
    harm = np.zeros((n, N_BINS))
    for k in range(1, 9):
        harm += np.exp(-0.5 * ((f - k * f0) / 0.7) ** 2) / k
    clean = harm * rng.uniform(0.5, 1.5, size=(n, 1))
    noise = np.abs(rng.normal(0, 0.25, size=(n, N_BINS))) * rng.uniform(0.5, 1.5, size=(n, 1))
    noisy = clean + noise
    return (mx.array(np.log1p(noisy), dtype=mx.float32),
            mx.array(noisy, dtype=mx.float32),
            mx.array(clean, dtype=mx.float32))


class WarmupCosineSchedule:
    def __init__(self, base_lr, warmup_steps, total_steps, min_lr=1e-6):
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr = min_lr

    def __call__(self, step):
        if step < self.warmup_steps:
            return self.base_lr * step / max(self.warmup_steps, 1)
        progress = (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1)
        progress = min(progress, 1.0)
        cosine = 0.5 * (1 + np.cos(np.pi * progress))
        return self.min_lr + (self.base_lr - self.min_lr) * cosine


class MaskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_BINS, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, N_BINS)

    def __call__(self, feat):
        h = nn.gelu(self.l1(feat))
        h = nn.gelu(self.l2(h))
        return mx.sigmoid(self.out(h))


def loss_fn(model, feat, noisy, clean):
    est = model(feat) * noisy
    return mx.mean((est - clean) ** 2)


def main():
    mx.random.seed(0)
    model = MaskNet()
    mx.eval(model.parameters())
    learning_rate = 3e-3
    total_steps = 600
    schedule = WarmupCosineSchedule(learning_rate, warmup_steps=50, total_steps=total_steps,
                                    min_lr=learning_rate * 0.01)

    # Optimizer - fixed learning rate (schedule applied manually before each step)
    optimizer = optim.AdamW(learning_rate=learning_rate, weight_decay=1e-4)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def compiled_step(feat, noisy, clean):
        loss, grads = loss_and_grad(model, feat, noisy, clean)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        optimizer.update(model, grads)
        return loss

    vfeat, vnoisy, vclean = make_batch(512)
    base = float(mx.mean((vnoisy - vclean) ** 2))
    print(f"valid mse of the unprocessed input: {base:.5f}")
    tic = time.time()
    for global_step in range(total_steps):
        feat, noisy, clean = make_batch(64)
        # Update learning rate from schedule (must be done outside compiled step)
        optimizer.learning_rate = schedule(global_step)
        loss = compiled_step(feat, noisy, clean)
        mx.eval(state, loss)
        if (global_step + 1) % 50 == 0:
            vl = float(loss_fn(model, vfeat, vnoisy, vclean))
            lr = float(schedule(global_step))
            print(f"  step {global_step + 1:4d}/{total_steps} | train {float(loss):.5f} | "
                  f"valid {vl:.5f} | gain {10 * math.log10(base / vl):5.2f} dB | lr {lr:.2e}")
    print(f"done in {time.time() - tic:.1f}s")


if __name__ == "__main__":
    main()
