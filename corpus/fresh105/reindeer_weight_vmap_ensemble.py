"""Reindeer herding: autumn carcass weight (kg) of calves from spring records.

Deep ensemble of 5 small Gaussian-output MLPs trained *in parallel*: the
parameters of all members are stacked on a leading axis and the forward pass is
mx.vmap'ed over it.  Each member sees its own bootstrap minibatch.  No
mlx.optimizers: a hand-written Adam runs over the stacked tree with tree_map.

The run is silent while it trains; a Markdown report is printed at the end.
'spread' is the ensemble's disagreement (std of member means, kg).
"""
import math
import time

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

MEMBERS = 5
FEATURES = 7
HIDDEN = 48


def make_herd(n, rng):
    spring_kg = rng.normal(22.0, 3.0, n)
    lichen = rng.uniform(0.0, 1.0, n)                 # winter pasture index
    snow_days = rng.integers(150, 230, n).astype(float)
    insect_days = rng.gamma(2.0, 6.0, n)              # insect harassment
    male = rng.integers(0, 2, n).astype(float)
    dam_age = rng.integers(2, 13, n).astype(float)
    birth_doy = rng.normal(135.0, 7.0, n)
    dam_eff = -0.08 * (dam_age - 7.0) ** 2 + 2.0
    w = (10.0 + 0.9 * spring_kg + 9.0 * np.sqrt(lichen) - 0.025 * (snow_days - 190.0)
         - 2.5 * np.log1p(insect_days) + 2.2 * male + dam_eff - 0.12 * (birth_doy - 135.0))
    noise_sd = 1.0 + 0.8 * (insect_days > 20)          # bad insect summers are noisier
    y = w + rng.normal(0.0, 1.0, n) * noise_sd
    x = np.stack([spring_kg, lichen, snow_days, insect_days, male, dam_age, birth_doy], 1)
    return x.astype(np.float32), y.astype(np.float32)


def init_member(key):
    k1, k2, k3 = mx.random.split(key, 3)
    def lin(k, i, o):
        lim = math.sqrt(1.0 / i)
        return {"w": mx.random.uniform(-lim, lim, (i, o), key=k), "b": mx.zeros((o,))}
    return {"l1": lin(k1, FEATURES, HIDDEN), "l2": lin(k2, HIDDEN, HIDDEN), "out": lin(k3, HIDDEN, 2)}


def stack_members(members):
    return tree_map(lambda *leaves: mx.stack(leaves), *members)


def forward(p, x):
    h = mx.tanh(x @ p["l1"]["w"] + p["l1"]["b"])
    h = mx.tanh(h @ p["l2"]["w"] + p["l2"]["b"]) + h
    o = h @ p["out"]["w"] + p["out"]["b"]
    return o[:, 0], mx.clip(o[:, 1], -6.0, 3.0)        # mean, log variance (std units)


def member_nll(p, x, y):
    mean, lv = forward(p, x)
    return mx.mean(0.5 * (math.log(2 * math.pi) + lv + (y - mean) ** 2 / mx.exp(lv)))


# vmap over members: params axis 0, each member its own batch (axis 0)
batched_nll = mx.vmap(member_nll, in_axes=(0, 0, 0))


def ensemble_loss(stacked, xb, yb):
    per = batched_nll(stacked, xb, yb)
    return mx.sum(per), per          # sum: each member's grad is its own NLL's grad


loss_and_grad = mx.value_and_grad(ensemble_loss)
predict_all = mx.vmap(forward, in_axes=(0, None))


class HandAdam:
    def __init__(self, params, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m = tree_map(mx.zeros_like, params)
        self.v = tree_map(mx.zeros_like, params)
        self.t = 0

    def step(self, params, grads, lr):
        self.t += 1
        b1, b2 = self.b1, self.b2
        self.m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, self.m, grads)
        self.v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, self.v, grads)
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        return tree_map(lambda p, m, v: p - lr * (m / c1) / (mx.sqrt(v / c2) + self.eps),
                        params, self.m, self.v)


def evaluate(stacked, x, y_kg, y_mu, y_sd):
    mean, lv = predict_all(stacked, x)                 # (M, n)
    mean_kg = mean * y_sd + y_mu
    var_kg = mx.exp(lv) * y_sd ** 2
    # mixture-of-Gaussians NLL in kg units
    comp = -0.5 * (mx.log(2 * math.pi * var_kg) + (y_kg - mean_kg) ** 2 / var_kg)
    mix_nll = -mx.mean(mx.logsumexp(comp, axis=0) - math.log(MEMBERS))
    ens_mean = mx.mean(mean_kg, axis=0)
    rmse = mx.sqrt(mx.mean((ens_mean - y_kg) ** 2))
    member_rmse = mx.sqrt(mx.mean((mean_kg - y_kg) ** 2, axis=1))
    spread = mx.mean(mx.std(mean_kg, axis=0))
    ens_var = mx.mean(var_kg, axis=0) + mx.var(mean_kg, axis=0)
    inside = mx.mean((mx.abs(ens_mean - y_kg) <= 1.2816 * mx.sqrt(ens_var)).astype(mx.float32))
    mx.eval(mix_nll, rmse, member_rmse, spread, inside)
    return mix_nll.item(), rmse.item(), np.array(member_rmse), spread.item(), 100 * inside.item()


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr = make_herd(12000, rng)
    xte, yte = make_herd(3000, rng)
    xm, xs = xtr.mean(0), xtr.std(0)
    y_mu, y_sd = float(ytr.mean()), float(ytr.std())
    Xtr = mx.array((xtr - xm) / xs)
    Ytr = mx.array((ytr - y_mu) / y_sd)
    Xte = mx.array((xte - xm) / xs)
    Yte_kg = mx.array(yte)

    keys = mx.random.split(mx.random.key(5), MEMBERS)
    params = stack_members([init_member(keys[i]) for i in range(MEMBERS)])
    mx.eval(params)
    opt = HandAdam(params)

    history = []
    t0 = time.perf_counter()
    steps, bs = 2500, 128
    base_lr, warm = 2e-3, 100
    grad_note = None
    boot = np.random.default_rng(3)
    for s in range(1, steps + 1):
        idx = mx.array(boot.integers(0, Xtr.shape[0], size=(MEMBERS, bs)))  # bootstrap per member
        xb, yb = Xtr[idx], Ytr[idx]
        (loss, per), grads = loss_and_grad(params, xb, yb)
        if s == 1:
            flat = tree_flatten(grads)
            # every leaf and every member slice must get a non-zero gradient
            zero = [f"{k}[m{m}]" for k, g in flat for m in range(MEMBERS)
                    if float(mx.max(mx.abs(g[m]))) == 0.0]
            grad_note = (len(flat), zero)
        lr = base_lr * min(1.0, s / warm) * (0.5 * (1 + math.cos(math.pi * s / steps)) * 0.9 + 0.1)
        params = opt.step(params, grads, lr)
        mx.eval(params, opt.m, opt.v, per)
        if s in (1, 250) or s % 500 == 0:
            nll, rmse, mrmse, spread, cover = evaluate(params, Xte, Yte_kg, y_mu, y_sd)
            history.append((s, lr, np.array(per), nll, rmse, mrmse, spread, cover,
                            time.perf_counter() - t0))

    # ---------------------------------------------------------------- report
    print("# Reindeer calf autumn-weight ensemble")
    print()
    print(f"- herd records: {len(xtr)} train / {len(xte)} test, target mean {y_mu:.1f} kg, sd {y_sd:.2f} kg")
    print(f"- {MEMBERS} members trained in parallel with mx.vmap, hand-written Adam, {steps} steps of {bs} bootstrap rows each")
    print(f"- step-1 gradients: {grad_note[0]} stacked leaves, zero member slices: {grad_note[1] or 'none'}")
    print(f"- predicting the train mean gives test RMSE {float(np.sqrt(np.mean((yte - y_mu) ** 2))):.2f} kg")
    print()
    print("| step | lr | train NLL per member (std units) | test mixture NLL (kg) | ens RMSE kg | best member RMSE kg | spread kg | in 80% band | secs |")
    print("|---:|---:|:---|---:|---:|---:|---:|---:|---:|")
    for s, lr, per, nll, rmse, mrmse, spread, cover, secs in history:
        per_s = " ".join(f"{v:+.2f}" for v in per)
        print(f"| {s} | {lr:.1e} | {per_s} | {nll:.3f} | {rmse:.3f} | {mrmse.min():.3f} | {spread:.3f} | {cover:.1f}% | {secs:.1f} |")
    print()
    s, lr, per, nll, rmse, mrmse, spread, cover, secs = history[-1]
    print(f"**Done.** Ensemble test RMSE {rmse:.2f} kg (members {mrmse.min():.2f}-{mrmse.max():.2f} kg), "
          f"80% band holds {cover:.1f}% of calves.")


if __name__ == "__main__":
    main()
