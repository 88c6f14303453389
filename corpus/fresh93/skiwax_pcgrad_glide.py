"""Ski-wax lab: one shared trunk, two heads, trained with PCGrad.

Task 1 (regression): glide time in seconds over a 50 m test run.
Task 2 (3-way classification): which wax family tested best (cold / universal / warm).

The two task gradients on the shared trunk are combined with PCGrad
(Yu et al. 2020): when they point against each other (negative dot product)
each one is projected onto the normal plane of the other before summing.
Heads only ever see their own task's gradient.

Training is silent; the per-epoch records are printed as one table at the end.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

WAX = ["cold", "universal", "warm"]


def make_runs(n, rng):
    snow_t = rng.uniform(-22, 0, n)            # snow temperature, C
    humid = rng.uniform(20, 100, n)            # relative humidity, %
    age = rng.exponential(3.0, n)              # crystal age, days
    grain = rng.lognormal(-0.5, 0.4, n)        # grain size, mm
    hard = rng.uniform(0, 1, n)                # wax base hardness index
    slope = rng.uniform(8, 16, n)              # test slope, degrees
    load = rng.normal(75, 10, n)               # skier + kit, kg
    # made-up glide law: best glide when wax hardness matches snow temperature
    match = hard - (-snow_t / 22.0)
    glide = (7.2 - 0.11 * (slope - 12) - 0.012 * (load - 75)
             + 1.6 * match ** 2 + 0.35 * np.tanh(age - 2)
             + 0.004 * (humid - 60) * (snow_t > -5)
             + 0.25 * np.sin(3 * grain)
             + rng.normal(0, 0.12, n))
    score = np.stack([
        -0.25 * snow_t - 3.0 + 0.8 * (grain < 0.5),
        1.5 - 0.01 * np.abs(humid - 60) + 0.2 * age / 3,
        0.3 * snow_t + 2.5 + 0.015 * (humid - 60),
    ], axis=1)
    score += rng.gumbel(0, 0.6, score.shape)
    wax = score.argmax(axis=1)
    X = np.stack([snow_t, humid, np.log1p(age), grain, hard, slope, load], 1)
    return X.astype(np.float32), glide.astype(np.float32), wax.astype(np.int32)


class SkiWaxNet(nn.Module):
    def __init__(self, d_in=7, width=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                   nn.Linear(width, width), nn.SiLU())
        self.glide_head = nn.Linear(width, 1)
        self.wax_head = nn.Linear(width, len(WAX))

    def __call__(self, x):
        h = self.trunk(x)
        return self.glide_head(h).squeeze(-1), self.wax_head(h)


def glide_loss(model, x, yg, yw):
    pred, _ = model(x)
    return nn.losses.mse_loss(pred, yg)


def wax_loss(model, x, yg, yw):
    _, logits = model(x)
    return nn.losses.cross_entropy(logits, yw, reduction="mean")


def pcgrad_combine(g_a, g_b):
    """PCGrad on the trunk, plain sum elsewhere. Returns (grads, conflicted)."""
    fa = dict(tree_flatten(g_a))
    fb = dict(tree_flatten(g_b))
    trunk = [k for k in fa if k.startswith("trunk.")]
    dot = sum((fa[k] * fb[k]).sum() for k in trunk)
    na = sum((fa[k] * fa[k]).sum() for k in trunk)
    nb = sum((fb[k] * fb[k]).sum() for k in trunk)
    conflict = dot < 0
    ca = mx.where(conflict, dot / (nb + 1e-12), 0.0)
    cb = mx.where(conflict, dot / (na + 1e-12), 0.0)
    out = {}
    for k in fa:
        if k in trunk:
            out[k] = (fa[k] - ca * fb[k]) + (fb[k] - cb * fa[k])
        else:
            out[k] = fa[k] + fb[k]   # heads: the other task's grad is zero
    return tree_unflatten(list(out.items())), conflict


def evaluate(model, X, g_sec, wax, g_mu, g_sd, bs=500):
    se, hits = 0.0, 0
    for i in range(0, X.shape[0], bs):
        p, logits = model(X[i:i + bs])
        p_sec = p * g_sd + g_mu
        se += ((p_sec - g_sec[i:i + bs]) ** 2).sum().item()
        hits += (logits.argmax(-1) == wax[i:i + bs]).sum().item()
    n = X.shape[0]
    return (se / n) ** 0.5, 100.0 * hits / n


def main():
    rng = np.random.default_rng(41)
    mx.random.seed(41)
    Xtr, gtr, wtr = make_runs(9000, rng)
    Xva, gva, wva = make_runs(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    g_mu, g_sd = float(gtr.mean()), float(gtr.std())
    Xtr_m = mx.array((Xtr - mu) / sd)
    Xva_m = mx.array((Xva - mu) / sd)
    gtr_std = mx.array((gtr - g_mu) / g_sd)
    wtr_m, gva_m, wva_m = mx.array(wtr), mx.array(gva), mx.array(wva)

    majority = 100.0 * np.bincount(wva).max() / len(wva)
    mean_rmse = float(np.sqrt(((gva - g_mu) ** 2).mean()))
    print(f"ski-wax runs: {len(gtr)} train / {len(gva)} valid; "
          f"predict-mean glide RMSE {mean_rmse:.3f} s; majority wax {majority:.1f}%")

    model = SkiWaxNet()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=1e-3, alpha=0.99)
    vg_glide = nn.value_and_grad(model, glide_loss)
    vg_wax = nn.value_and_grad(model, wax_loss)

    # gradient audit on the first batch: every leaf of the combined step moves
    xb, gb, wb = Xtr_m[:64], gtr_std[:64], wtr_m[:64]
    _, ga = vg_glide(model, xb, gb, wb)
    _, gw = vg_wax(model, xb, gb, wb)
    comb, _ = pcgrad_combine(ga, gw)
    leaves = tree_flatten(comb)
    zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    print(f"gradient audit: {len(leaves)} leaves, all-zero: {zero or 'none'}")

    rmse0, acc0 = evaluate(model, Xva_m, gva_m, wva_m, g_mu, g_sd)
    records = [(0, None, None, None, rmse0, acc0, 0.0)]
    bs, epochs = 64, 14
    n = Xtr_m.shape[0]
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        sum_g = sum_w = 0.0
        conflicts = steps = 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            xb, gb, wb = Xtr_m[idx], gtr_std[idx], wtr_m[idx]
            lg, ga = vg_glide(model, xb, gb, wb)
            lw, gw = vg_wax(model, xb, gb, wb)
            grads, conflict = pcgrad_combine(ga, gw)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, lg, lw, conflict)
            sum_g += lg.item()
            sum_w += lw.item()
            conflicts += int(conflict.item())
            steps += 1
        rmse, acc = evaluate(model, Xva_m, gva_m, wva_m, g_mu, g_sd)
        records.append((epoch, sum_g / steps, sum_w / steps,
                        100.0 * conflicts / steps, rmse, acc,
                        time.perf_counter() - t0))

    print()
    print(f"{'epoch':>5}  {'glide mse(std)':>14}  {'wax ce':>7}  {'conflict %':>10}  "
          f"{'val RMSE s':>10}  {'val wax acc %':>13}  {'secs':>6}")
    for ep, lg, lw, cf, rmse, acc, secs in records:
        lg_s = "-" if lg is None else f"{lg:.4f}"
        lw_s = "-" if lw is None else f"{lw:.4f}"
        cf_s = "-" if cf is None else f"{cf:.1f}"
        print(f"{ep:>5}  {lg_s:>14}  {lw_s:>7}  {cf_s:>10}  {rmse:>10.3f}  "
              f"{acc:>13.1f}  {secs:>6.1f}")
    print()
    print(f"done: glide RMSE {records[-1][4]:.3f} s (noise sd 0.12 s), "
          f"wax accuracy {records[-1][5]:.1f}% (majority {majority:.1f}%)")


if __name__ == "__main__":
    main()
