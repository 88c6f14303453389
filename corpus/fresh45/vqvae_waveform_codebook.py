# VQ-VAE on synthetic 1-D waveform snippets (sum of 1-3 Gaussian bumps + a slow
# ramp, length 48).  Encoder MLP -> 6 latent slots of dim 8, each snapped to the
# nearest of 24 codebook vectors (codebook = a raw mx.array attribute), with the
# straight-through estimator; loss = recon MSE + codebook MSE + 0.25 commitment.
# Optimizer: RMSprop + linear warmup (join_schedules) into constant lr.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

LEN, SLOTS, ZDIM, K = 48, 6, 8, 24
BETA = 0.25


class VQVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(LEN, 128), nn.GELU(), nn.Linear(128, SLOTS * ZDIM))
        self.dec = nn.Sequential(nn.Linear(SLOTS * ZDIM, 128), nn.GELU(), nn.Linear(128, LEN))
        self.codebook = mx.random.normal((K, ZDIM)) * 0.5

    def quantize(self, z):
        # z: (N, SLOTS, ZDIM)
        d = (mx.sum(z * z, -1, keepdims=True) - 2 * z @ self.codebook.T
             + mx.sum(self.codebook * self.codebook, -1))
        codes = mx.stop_gradient(mx.argmin(d, axis=-1))
        return self.codebook[codes], codes

    def __call__(self, x):
        z = self.enc(x).reshape(-1, SLOTS, ZDIM)
        q, codes = self.quantize(z)
        q_st = z + mx.stop_gradient(q - z)
        xr = self.dec(q_st.reshape(-1, SLOTS * ZDIM))
        return xr, z, q, codes


def loss_fn(model, x):
    xr, z, q, _ = model(x)
    rec = mx.mean((xr - x) ** 2)
    cb = mx.mean((q - mx.stop_gradient(z)) ** 2)
    commit = mx.mean((z - mx.stop_gradient(q)) ** 2)
    return rec + cb + BETA * commit, rec


def make_waves(rng, n):
    t = np.linspace(0, 1, LEN, dtype=np.float32)
    out = np.zeros((n, LEN), np.float32)
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            c, w, a = rng.uniform(0.1, 0.9), rng.uniform(0.03, 0.12), rng.uniform(-1.5, 1.5)
            out[i] += a * np.exp(-0.5 * ((t - c) / w) ** 2)
        out[i] += rng.uniform(-0.5, 0.5) * (t - 0.5)
    return mx.array(out + 0.02 * rng.normal(size=out.shape).astype(np.float32))


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    train = make_waves(rng, 6000)
    test = make_waves(rng, 1000)
    model = VQVAE()
    mx.eval(model.parameters())

    vg = nn.value_and_grad(model, lambda m, x: loss_fn(m, x))
    (_, _), g0 = vg(model, train[:128])
    flat = tree_flatten(g0)
    zero = [k for k, v in flat if mx.abs(v).max().item() == 0]
    print(f"gradient check: {len(flat)} leaves, all-zero: {zero if zero else 'none'}")
    assert not zero

    sched = optim.join_schedules([optim.linear_schedule(1e-5, 2e-3, 100), lambda s: mx.array(2e-3)], [100])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.99)
    var = mx.var(test).item()
    print(f"test signal variance {var:.4f} (= MSE of predicting the global mean)")
    print("-" * 74)
    print(f"{'epoch':>5} | {'train rec':>9} | {'test rec':>8} | {'rel err':>7} | {'ppl':>5} | {'used':>4} | {'sec':>5}")
    print("-" * 74)
    t0 = time.time()
    bs = 128
    for epoch in range(1, 13):
        perm = mx.array(rng.permutation(train.shape[0]))
        recs = []
        for s in range(0, train.shape[0], bs):
            xb = train[perm[s:s + bs]]
            (loss, rec), grads = vg(model, xb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, rec)
            recs.append(rec.item())
        xr, _, _, codes = model(test)
        trec = mx.mean((xr - test) ** 2).item()
        counts = np.bincount(np.array(codes).ravel(), minlength=K)
        p = counts / counts.sum()
        ppl = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))
        print(f"{epoch:5d} | {np.mean(recs):9.5f} | {trec:8.5f} | {trec / var:7.3f} | {ppl:5.1f} | "
              f"{int((counts > 0).sum()):4d} | {time.time() - t0:5.1f}")
    print("-" * 74)
    print("codebook usage on test set:")
    for k in np.argsort(-counts)[:8]:
        print(f"  code {k:2d} {'#' * int(60 * counts[k] / counts.max())} {counts[k]}")


if __name__ == "__main__":
    main()
