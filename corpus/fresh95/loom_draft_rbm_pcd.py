"""Binary RBM on 6x6 loom-draft tiles (plain, twill, basket, satin weaves at random
shifts, 4% of threads flipped), trained by persistent contrastive divergence.

The 'loss' handed to value_and_grad is the free-energy gap
    mean F(v_data) - mean F(stop_gradient(v_fantasy))
whose gradient is the CD gradient; its value is not an objective that has to fall
(it hovers around 0).  Progress is the reconstruction error (in %, lower is better)
and the pseudo-log-likelihood in bits per thread (closer to 0 is better).
Hand-written SGD with momentum and weight decay over tree_map, no mlx.optimizers."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

SIDE = 6
NV, NH = SIDE * SIDE, 32


def weave_tiles(rng, n):
    base = []
    plain = np.indices((SIDE, SIDE)).sum(0) % 2
    twill = ((np.arange(SIDE)[:, None] + np.arange(SIDE)[None, :]) % 3 == 0).astype(int)
    twill_r = ((np.arange(SIDE)[:, None] - np.arange(SIDE)[None, :]) % 3 == 0).astype(int)
    basket = ((np.arange(SIDE)[:, None] // 2 + np.arange(SIDE)[None, :] // 2) % 2).astype(int)
    satin = ((np.arange(SIDE)[None, :] * 2 - np.arange(SIDE)[:, None]) % SIDE == 0).astype(int)
    for p in (plain, twill, twill_r, basket, satin):
        for dy in range(SIDE):
            base.append(np.roll(p, dy, axis=0).reshape(-1))
    base = np.unique(np.array(base), axis=0)
    pick = rng.integers(0, len(base), n)
    x = base[pick]
    flip = rng.random(x.shape) < 0.04
    return np.where(flip, 1 - x, x).astype(np.float32), len(base)


class RBM(nn.Module):
    def __init__(self, nv, nh):
        super().__init__()
        self.W = mx.random.normal((nv, nh)) * 0.01
        self.vbias = mx.zeros((nv,))
        self.hbias = mx.zeros((nh,))

    def free_energy(self, v):
        return -(v @ self.vbias) - nn.softplus(v @ self.W + self.hbias).sum(-1)

    def h_given_v(self, v):
        return mx.sigmoid(v @ self.W + self.hbias)

    def v_given_h(self, h):
        return mx.sigmoid(h @ self.W.T + self.vbias)


def fe_gap(model, v_data, v_fantasy):
    return model.free_energy(v_data).mean() - model.free_energy(mx.stop_gradient(v_fantasy)).mean()


def gibbs(model, v, k):
    for _ in range(k):
        h = mx.random.bernoulli(model.h_given_v(v)).astype(mx.float32)
        v = mx.random.bernoulli(model.v_given_h(h)).astype(mx.float32)
    return v


def recon_error_pct(model, v):
    r = model.v_given_h(model.h_given_v(v)) > 0.5
    return float((r != (v > 0.5)).astype(mx.float32).mean()) * 100


def pseudo_ll_bits(model, v, rng):
    # stochastic PLL: flip one random thread per tile, log sigmoid(F(flipped) - F(v))
    j = rng.integers(0, NV, v.shape[0])
    mask = np.zeros(v.shape, np.float32)
    mask[np.arange(v.shape[0]), j] = 1.0
    m = mx.array(mask)
    v_flip = v * (1 - m) + (1 - v) * m
    ll = nn.log_sigmoid(model.free_energy(v_flip) - model.free_energy(v))
    return float(ll.mean()) / np.log(2)


def latex_row(*cells):
    print(" & ".join(cells) + r" \\")


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    t0 = time.time()
    train, n_patterns = weave_tiles(rng, 6000)
    test, _ = weave_tiles(rng, 1500)
    test_mx = mx.array(test)
    print(f"% loom drafts: {n_patterns} distinct clean tiles, {len(train)} train / {len(test)} test, 4% flipped threads")
    print(r"\begin{tabular}{rrrrrr}")
    latex_row("epoch", "FE gap", "recon err \\%", "PLL bits/thread", "|W|", "sec")
    print(r"\hline")

    model = RBM(NV, NH)
    params = model.trainable_parameters()
    velocity = tree_map(mx.zeros_like, params)
    lr, mom, wd, bs = 0.02, 0.5, 1e-4, 50
    chains = mx.array((rng.random((bs, NV)) < 0.5).astype(np.float32))
    grad_fn = nn.value_and_grad(model, fe_gap)

    latex_row("0", "--", f"{recon_error_pct(model, test_mx):.2f}",
              f"{pseudo_ll_bits(model, test_mx, rng):.3f}",
              f"{float(mx.abs(model.W).mean()):.4f}", f"{time.time() - t0:.1f}")
    step = 0
    for epoch in range(1, 31):
        if epoch == 6:
            mom = 0.9
        order = rng.permutation(len(train))
        gaps = []
        for s in range(0, len(order) - bs + 1, bs):
            v = mx.array(train[order[s:s + bs]])
            chains = gibbs(model, chains, 1)
            gap, grads = grad_fn(model, v, chains)
            if step == 0:
                flat = tree_flatten(grads)
                zeros = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                print(f"% first-step gradient: {len(flat)} leaves, zero leaves: {zeros or 'none'}")
            params = model.trainable_parameters()
            velocity = tree_map(lambda u, g, p: mom * u - lr * (g + wd * p), velocity, grads, params)
            model.update(tree_map(lambda p, u: p + u, params, velocity))
            mx.eval(model.parameters(), velocity, chains, gap)
            gaps.append(gap.item())
            step += 1
        if epoch in (1, 2, 3, 5, 8, 12, 16, 20, 25, 30):
            latex_row(str(epoch), f"{np.mean(gaps):+.3f}", f"{recon_error_pct(model, test_mx):.2f}",
                      f"{pseudo_ll_bits(model, test_mx, rng):.3f}",
                      f"{float(mx.abs(model.W).mean()):.4f}", f"{time.time() - t0:.1f}")
    print(r"\end{tabular}")
    print(f"% {step} PCD updates; flipped-thread floor for recon err is about 4%")


if __name__ == "__main__":
    main()
