"""Set Transformer (SAB x2 + PMA pooling) regressing the sum of the two largest
elements of a random multiset.  Set size varies per batch (4..16), so the step
is left uncompiled.  Reports are YAML-ish blocks, including a permutation-
invariance gap (model(set) vs model(shuffled set)) that must stay ~1e-6.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


class SAB(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln1 = nn.LayerNorm(dims)
        self.ln2 = nn.LayerNorm(dims)
        self.ff = nn.Sequential(nn.Linear(dims, 2 * dims), nn.ReLU(), nn.Linear(2 * dims, dims))

    def __call__(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h)
        return x + self.ff(self.ln2(x))


class PMA(nn.Module):
    """Pooling by multihead attention with one learned seed vector."""

    def __init__(self, dims, heads):
        super().__init__()
        self.seed = mx.random.normal((1, 1, dims)) * (1 / math.sqrt(dims))
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln = nn.LayerNorm(dims)

    def __call__(self, x):
        q = mx.broadcast_to(self.seed, (x.shape[0], 1, self.seed.shape[-1]))
        h = self.ln(x)
        return self.attn(q, h, h)[:, 0, :]


class SetTransformer(nn.Module):
    def __init__(self, dims=32, heads=4):
        super().__init__()
        self.embed = nn.Linear(1, dims)
        self.enc = [SAB(dims, heads), SAB(dims, heads)]
        self.pool = PMA(dims, heads)
        self.head = nn.Sequential(nn.Linear(dims, dims), nn.ReLU(), nn.Linear(dims, 1))

    def __call__(self, x):
        h = self.embed(x[..., None])
        for blk in self.enc:
            h = blk(h)
        return self.head(self.pool(h))[:, 0]


def make_batch(rng, batch, size):
    x = rng.uniform(-1.0, 1.0, size=(batch, size)).astype(np.float32)
    top2 = np.sort(x, axis=1)[:, -2:].sum(axis=1)
    return mx.array(x), mx.array(top2)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    model = SetTransformer()
    mx.eval(model.parameters())

    steps = 900
    warm = optim.linear_schedule(1e-5, 2e-3, 60)
    decay = optim.cosine_decay(2e-3, steps - 60, 1e-4)
    opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [60]), weight_decay=1e-4)

    def loss_fn(m, x, y):
        return mx.mean(mx.square(m(x) - y))

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    # fixed validation sets at three set sizes
    val = [make_batch(np.random.default_rng(100 + s), 256, s) for s in (5, 11, 16)]
    baseline = np.mean([mx.mean(mx.square(y - mx.mean(y))).item() for _, y in val])

    x0, y0 = make_batch(rng, 64, 8)
    _, g0 = loss_and_grad(model, x0, y0)
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    print(f"# grad check: {len(leaves)} leaves, zero-gradient leaves: {zero if zero else 'none'}")
    print(f"# predict-the-mean baseline val_mse: {baseline:.4f}")

    window, t0 = [], time.perf_counter()
    for step in range(1, steps + 1):
        size = int(rng.integers(4, 17))
        x, y = make_batch(rng, 64, size)
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 150 == 0:
            val_mse = np.mean([loss_fn(model, xv, yv).item() for xv, yv in val])
            xv, _ = val[1]
            perm = mx.array(np.random.default_rng(step).permutation(xv.shape[1]))
            gap = mx.abs(model(xv) - model(xv[:, perm])).max().item()
            print(f"- step: {step}")
            print(f"  train_mse_window: {np.mean(window):.4f}")
            print(f"  val_mse: {val_mse:.4f}")
            print(f"  perm_gap: {gap:.2e}")
            print(f"  lr: {opt.learning_rate.item():.2e}")
            print(f"  elapsed_s: {time.perf_counter() - t0:.1f}")
            window = []


if __name__ == "__main__":
    main()
