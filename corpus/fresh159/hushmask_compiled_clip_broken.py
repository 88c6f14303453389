"""Tiny spectral-mask denoiser (DeepFilterNet-style) trained with a compiled step."""
import math
import time
from functools import partial
from typing import Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)
N_BINS = 32
FRAMES = 16


def make_batch(bs):
    t = mx.arange(FRAMES)[None, :, None].astype(mx.float32)
    f = mx.arange(N_BINS)[None, None, :].astype(mx.float32)
    freq = mx.random.uniform(2, 12, (bs, 1, 1))
    clean = mx.exp(-((f - freq) ** 2) / 4.0) * (1 + 0.3 * mx.sin(t / 3.0))
    noise = 0.4 * mx.abs(mx.random.normal((bs, FRAMES, N_BINS)))
    noisy = clean + noise
    return noisy, clean


class MaskNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(N_BINS, 64)
        self.gru = nn.GRU(64, 64)
        self.dec = nn.Linear(64, N_BINS)

    def __call__(self, spec):
        h = nn.relu(self.enc(mx.log1p(spec)))
        h = self.gru(h)
        return mx.sigmoid(self.dec(h)) * spec


def clip_grad_norm(grads, max_norm: float) -> Tuple[dict, float]:
    """Clip gradients by global norm; returns (clipped, norm)."""
    flat = [g for _, g in tree_flatten(grads)]
    total_norm = mx.sqrt(sum(mx.sum(g ** 2) for g in flat))
    grad_norm_val = float(total_norm)
    coef = mx.minimum(max_norm / (total_norm + 1e-6), mx.array(1.0))
    return tree_map(lambda g: g * coef, grads), grad_norm_val


model = MaskNet()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=2e-3)


def loss_fn(model, noisy, clean):
    est = model(noisy)
    return mx.mean((est - clean) ** 2)


loss_and_grad = nn.value_and_grad(model, loss_fn)
state = [model.state, optimizer.state]


@partial(mx.compile, inputs=state, outputs=state)
def compiled_step(noisy, clean, max_grad_norm_val):
    loss, grads = loss_and_grad(model, noisy, clean)
    grads, _ = clip_grad_norm(grads, max_grad_norm_val)
    optimizer.update(model, grads)
    return loss


val_noisy, val_clean = make_batch(64)
base = mx.mean((val_noisy - val_clean) ** 2).item()
print(f"[df-mlx] passthrough val mse (noisy vs clean) = {base:.4f}")
t0 = time.time()
for epoch in range(6):
    run = 0.0
    for it in range(40):
        noisy, clean = make_batch(32)
        loss = compiled_step(noisy, clean, 1.0)
        mx.eval(state)
        run += loss.item()
    val = loss_fn(model, val_noisy, val_clean).item()
    print(f"[df-mlx] epoch {epoch:02d} | train_loss {run / 40:.5f} | valid_mse {val:.5f} | "
          f"gain {10 * math.log10(base / val):+.2f} dB | {time.time() - t0:.1f}s")
print("[df-mlx] done")
