"""Avalanche bulletin helper: 4-way danger band (low / moderate / considerable / high)
from six snow-pit readings.

The field team reads each instrument into coarse bands before anything else, so the
network only ever sees which band each reading fell into.  Band edges are not
differentiable, so they are searched with an antithetic evolution strategy on a
held-out selection split, while the classifier weights are trained with AdamW.
Each generation: one ES move of the band edges, then a short gradient stage.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_FEAT, N_EDGE, N_CLASS = 6, 3, 4
FEATS = ["new_snow_cm", "wind_ms", "temp_grad", "ect_taps", "slope_deg", "rh_pct"]


def make_pits(rng, n):
    z = rng.uniform(0.0, 1.0, size=(n, N_FEAT)).astype(np.float32)
    # hidden danger law acts on crossings that sit away from the quantiles
    score = (
        1.3 * (z[:, 0] > 0.62)
        + 0.9 * (z[:, 1] > 0.78)
        + 0.8 * (z[:, 2] > 0.30)
        + 1.1 * (z[:, 3] < 0.22)
        + 0.7 * ((z[:, 4] > 0.45) & (z[:, 4] < 0.70))
        + 0.5 * (z[:, 5] > 0.85)
        + rng.normal(0.0, 0.45, size=n)
    )
    y = np.digitize(score, [1.0, 2.0, 3.0]).astype(np.int32)
    return z, y


class BandedNet(nn.Module):
    def __init__(self):
        super().__init__()
        qs = np.quantile(np.linspace(0, 1, 101), [0.25, 0.5, 0.75])
        self.edges = mx.array(np.tile(qs, (N_FEAT, 1)).astype(np.float32))
        self.l1 = nn.Linear(N_FEAT * (N_EDGE + 1), 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_CLASS)

    def __call__(self, x, edges=None):
        e = mx.sort(self.edges if edges is None else edges, axis=-1)
        band = (x[:, :, None] > e[None]).astype(mx.int32).sum(-1)  # (B, F) in 0..3
        onehot = (band[:, :, None] == mx.arange(N_EDGE + 1)[None, None]).astype(mx.float32)
        h = nn.silu(self.l1(onehot.reshape(x.shape[0], -1)))
        h = nn.silu(self.l2(h))
        return self.out(h)


def ce(model, x, y, edges=None):
    return nn.losses.cross_entropy(model(x, edges), y, reduction="mean")


def acc(model, x, y, edges=None):
    return (mx.argmax(model(x, edges), axis=1) == y).astype(mx.float32).mean().item()


def centred_ranks(f):
    r = np.empty_like(f)
    r[np.argsort(f)] = np.arange(len(f))
    return r / (len(f) - 1) - 0.5


def grad_stage(model, opt, step_fn, xtr, ytr, rng, n_steps, bs=256):
    tot = 0.0
    for _ in range(n_steps):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=bs))
        loss = step_fn(xtr[idx], ytr[idx])
        mx.eval(model.parameters(), opt.state)
        tot += loss.item()
    return tot / n_steps


def build(seed):
    mx.random.seed(seed)
    model = BandedNet()
    model.freeze(keys=["edges"], recurse=False)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 80), optim.cosine_decay(3e-3, 920, 3e-4)], [80]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    lg = nn.value_and_grad(model, ce)

    def step(xb, yb):
        loss, g = lg(model, xb, yb)
        opt.update(model, g)
        return loss

    mx.eval(model.parameters())
    return model, opt, step


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    xtr, ytr = make_pits(rng, 6000)
    xse, yse = make_pits(rng, 800)
    xte, yte = make_pits(rng, 3000)
    xtr, ytr, xse, yse, xte, yte = map(mx.array, (xtr, ytr, xse, yse, xte, yte))
    print(f"pits: train {xtr.shape[0]}  select {xse.shape[0]}  test {xte.shape[0]}  "
          f"class shares {np.bincount(np.array(ytr), minlength=4) / ytr.shape[0]}")

    GENS, GSTEPS, POP_HALF = 25, 40, 8
    sigma, sigma_min, es_lr = 0.08, 0.02, 0.02

    # reference run: same classifier, same gradient budget, band edges left at quartiles
    ref, ref_opt, ref_step = build(seed=1)
    rrng = np.random.default_rng(11)
    for _ in range(GENS):
        grad_stage(ref, ref_opt, ref_step, xtr, ytr, rrng, GSTEPS)
    ref_test = acc(ref, xte, yte)
    print(f"quartile-edge reference after {GENS * GSTEPS} AdamW steps: "
          f"select acc {acc(ref, xse, yse):.3f}  test acc {ref_test:.3f}")

    model, opt, step = build(seed=1)
    grng = np.random.default_rng(11)
    nrng = np.random.default_rng(3)
    print("gen  sigma   pop_ce_mean  pop_ce_best  train_ce  select_acc  test_acc  edge_shift")
    start_edges = np.array(model.edges)
    for gen in range(1, GENS + 1):
        # --- ES move of the band edges (fitness = selection cross-entropy, lower is better)
        base = np.array(model.edges)
        eps = nrng.normal(size=(POP_HALF, N_FEAT, N_EDGE)).astype(np.float32)
        eps = np.concatenate([eps, -eps], axis=0)
        losses = np.array([
            ce(model, xse, yse, mx.array(np.clip(base + sigma * e, 0.0, 1.0))).item() for e in eps
        ])
        w = -centred_ranks(losses)  # lower loss -> larger weight
        move = (w[:, None, None] * eps).sum(0) / (len(eps) * sigma)
        new_edges = np.clip(base + es_lr * move, 0.0, 1.0)
        model.edges = mx.array(np.sort(new_edges, axis=-1).astype(np.float32))
        sigma = max(sigma_min, sigma * 0.95)
        es_lr *= 0.93

        # --- gradient stage on the classifier with the edges held constant
        tr = grad_stage(model, opt, step, xtr, ytr, grng, GSTEPS)
        if gen == 1 or gen % 5 == 0:
            shift = np.abs(np.array(model.edges) - start_edges).mean()
            print(f"{gen:3d}  {sigma:.3f}   {losses.mean():.4f}       {losses.min():.4f}      "
                  f"{tr:.4f}    {acc(model, xse, yse):.3f}       {acc(model, xte, yte):.3f}    {shift:.3f}")

    final = acc(model, xte, yte)
    print("learned edges (sorted, per reading):")
    for name, row in zip(FEATS, np.array(model.edges)):
        print(f"  {name:12s} " + "  ".join(f"{v:.2f}" for v in row))
    print(f"test acc: evolved edges {final:.3f}  vs quartile edges {ref_test:.3f}  "
          f"(gain {final - ref_test:+.3f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
