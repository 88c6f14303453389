"""Tile workshop: draw the 8x8 glaze tile described by an order slip ('<glaze> <motif>').

Text-to-image decoder with a per-pixel Gaussian head (mean and log-sd), trained by
Gaussian negative log-likelihood (values below zero are expected), 15% of slips
blanked to a null token so the same net also learns the unconditional image,
Adam under cosine annealing with warm restarts, quiet log (every 75 steps).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
np.random.seed(SEED)
mx.random.seed(SEED)

GLAZES = ["cobalt", "terracotta", "ochre", "sage"]
GLAZE_RGB = np.array([[0.1, 0.25, 0.75], [0.75, 0.35, 0.2], [0.8, 0.6, 0.15], [0.5, 0.65, 0.45]], np.float32)
MOTIFS = ["cross", "diamond", "border"]
NOISE = 0.05
NULL_G, NULL_M = len(GLAZES), len(MOTIFS)
P_BLANK = 0.15


def motif_mask(m):
    ii, jj = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    if m == 0:
        return ((ii == 3) | (ii == 4) | (jj == 3) | (jj == 4)).astype(np.float32)
    if m == 1:
        d = np.abs(ii - 3.5) + np.abs(jj - 3.5)
        return ((d >= 2) & (d <= 3)).astype(np.float32)
    return ((ii == 0) | (ii == 7) | (jj == 0) | (jj == 7)).astype(np.float32)


MASKS = np.stack([motif_mask(m) for m in range(3)])
CREAM = np.array([0.93, 0.9, 0.8], np.float32)


def clean_tile(g, m):
    k = MASKS[m][..., None]
    return k * GLAZE_RGB[g] + (1 - k) * CREAM


def make(n, rng):
    g = rng.integers(0, 4, n)
    m = rng.integers(0, 3, n)
    img = np.stack([clean_tile(a, b) for a, b in zip(g, m)])
    img = img + rng.normal(0, NOISE, img.shape).astype(np.float32)
    return g.astype(np.int32), m.astype(np.int32), img.reshape(n, -1).astype(np.float32)


class SlipPainter(nn.Module):
    def __init__(self, d=64, out=192):
        super().__init__()
        self.glaze = nn.Embedding(NULL_G + 1, d)
        self.motif = nn.Embedding(NULL_M + 1, d)
        self.body = nn.Sequential(nn.Linear(2 * d, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU())
        self.mean = nn.Linear(128, out)
        self.logsd = nn.Linear(128, out)

    def __call__(self, g, m):
        h = self.body(mx.concatenate([self.glaze(g), self.motif(m)], axis=-1))
        return self.mean(h), mx.clip(self.logsd(h), -6.0, 1.0)


def nll(model, g, m, x):
    mu, logsd = model(g, m)
    per = 0.5 * math.log(2 * math.pi) + logsd + 0.5 * ((x - mu) / mx.exp(logsd)) ** 2
    return per.mean()


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    gtr, mtr, xtr = make(6000, rng)
    gte, mte, xte = make(600, rng)
    floor = 0.5 * math.log(2 * math.pi * math.e) + math.log(NOISE)
    print(f"slips: {len(GLAZES)} glazes x {len(MOTIFS)} motifs, train {len(xtr)}, test {len(xte)}, 192 values per tile")
    print(f"per-value NLL floor for a perfect conditional model: {floor:.3f} (pixel noise sd {NOISE})")

    cycle, lr_max, lr_min = 150, 2e-3, 2e-5

    def sgdr(step):
        pos = mx.remainder(step, cycle).astype(mx.float32) / cycle
        return lr_min + 0.5 * (lr_max - lr_min) * (1 + mx.cos(math.pi * pos))

    model = SlipPainter()
    opt = optim.Adam(learning_rate=sgdr)
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, nll)

    steps, bs = 450, 96
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(xtr), bs)
        g, m = gtr[idx].copy(), mtr[idx].copy()
        blank = rng.random(bs) < P_BLANK
        g[blank], m[blank] = NULL_G, NULL_M
        loss, grads = step_fn(model, mx.array(g), mx.array(m), mx.array(xtr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 75 == 0:
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  nll/value {loss.item():+.3f}")

    G, M, X = mx.array(gte), mx.array(mte), mx.array(xte)
    cond_nll = nll(model, G, M, X).item()
    unc_nll = nll(model, mx.full(G.shape, NULL_G, mx.int32), mx.full(M.shape, NULL_M, mx.int32), X).item()
    mu_c, logsd_c = model(G, M)
    mu_u, _ = model(mx.full(G.shape, NULL_G, mx.int32), mx.full(M.shape, NULL_M, mx.int32))
    mse_c = mx.mean((mu_c - X) ** 2).item()
    mse_u = mx.mean((mu_u - X) ** 2).item()
    mse_mean = float(np.mean((xtr.mean(0) - xte) ** 2))
    sd_c = mx.mean(mx.exp(logsd_c)).item()
    print(f"test nll/value  slip {cond_nll:+.3f}  blank slip {unc_nll:+.3f}  floor {floor:+.3f}")
    print(f"test mse  slip {mse_c:.4f}  blank slip {mse_u:.4f}  train-mean image {mse_mean:.4f}  noise {NOISE**2:.4f}")
    print(f"mean predicted sd with slip {sd_c:.4f} (true {NOISE})")
    clean = np.stack([clean_tile(a, b).reshape(-1) for a, b in zip(gte, mte)])
    err = np.abs(np.array(mu_c) - clean).max()
    print(f"largest |mean - clean tile| over test values {err:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
