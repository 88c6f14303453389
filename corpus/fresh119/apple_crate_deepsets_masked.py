"""Packhouse QA: does a crate of apples pass the export grade?

A crate holds 6..24 apples, each scanned for (weight, diameter, blush,
firmness, bruise score, russet).  A crate passes when its *worst few* apples
are still fine and the crate is uniform enough, so the model has to look at
the whole set.  Deep Sets: phi per apple, masked mean+max pooling, rho head.
Crates are padded to 24 slots; padding is masked out with mx.where.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

MAX_APPLES = 24
N_FEAT = 6


class Cfg:
    n_train = 6000
    n_val = 1500
    batch = 64
    steps = 1500
    report_every = 150
    lr = 1.5e-3
    ema_decay = 0.98
    seed = 5


def make_crates(n, rng):
    X = np.zeros((n, MAX_APPLES, N_FEAT), np.float32)
    M = np.zeros((n, MAX_APPLES), np.float32)
    y = np.zeros(n, np.float32)
    for i in range(n):
        k = rng.integers(6, MAX_APPLES + 1)
        orchard = rng.normal(0, 1, 3)
        w = rng.normal(0.2 * orchard[0], 1.0, k)
        d = 0.8 * w + rng.normal(0, 0.6, k)
        blush = rng.normal(0.3 * orchard[1], 1.0, k)
        firm = rng.normal(0.4 * orchard[2], 1.0, k)
        bruise = rng.exponential(0.6, k) - 0.6
        russet = rng.normal(0, 1, k)
        worst = np.sort(1.2 * bruise - 0.8 * firm)[-2:].mean()
        spread = np.std(w)
        score = 3.5 - 1.3 * worst - 1.5 * spread + 0.4 * blush.mean() + rng.logistic(0, 0.35)
        X[i, :k] = np.stack([w, d, blush, firm, bruise, russet], 1)
        M[i, :k] = 1.0
        y[i] = float(score > 0)
    return X, M, y


class CrateNet(nn.Module):
    def __init__(self, d=N_FEAT, h=48):
        super().__init__()
        self.phi1 = nn.Linear(d, h)
        self.phi2 = nn.Linear(h, h)
        self.rho1 = nn.Linear(2 * h, h)
        self.rho2 = nn.Linear(h, 1)

    def __call__(self, x, mask):
        e = nn.gelu(self.phi2(nn.gelu(self.phi1(x))))          # (B, N, h)
        m = mask[..., None]
        count = mx.maximum(m.sum(axis=1), 1.0)
        mean_pool = (e * m).sum(axis=1) / count
        max_pool = mx.where(m > 0, e, -1e9).max(axis=1)
        z = mx.concatenate([mean_pool, max_pool], axis=-1)
        return self.rho2(nn.gelu(self.rho1(z))).squeeze(-1)   # logit


def bce(model, x, mask, y):
    return nn.losses.binary_cross_entropy(model(x, mask), y, with_logits=True,
                                          reduction="mean")


def metrics(model, X, M, y):
    logit = model(X, M)
    loss = bce(model, X, M, y).item()
    pred = np.array(logit) > 0
    yt = np.array(y) > 0.5
    acc = 100.0 * float(np.mean(pred == yt))
    fpass = 100.0 * float(np.mean(pred[~yt]))  # crates that should fail but are passed
    return loss, acc, fpass


def main(cfg=Cfg):
    rng = np.random.default_rng(cfg.seed)
    mx.random.seed(cfg.seed)
    Xtr, Mtr, ytr = make_crates(cfg.n_train, rng)
    Xva, Mva, yva = make_crates(cfg.n_val, rng)
    mu = (Xtr * Mtr[..., None]).sum((0, 1)) / Mtr.sum()
    sd = np.sqrt((((Xtr - mu) ** 2) * Mtr[..., None]).sum((0, 1)) / Mtr.sum())
    Xtr = (Xtr - mu) / sd * Mtr[..., None]
    Xva = (Xva - mu) / sd * Mva[..., None]
    Xtr, Mtr, ytr = mx.array(Xtr), mx.array(Mtr), mx.array(ytr)
    Xva, Mva, yva = mx.array(Xva), mx.array(Mva), mx.array(yva)
    print({"event": "data", "train_crates": cfg.n_train, "val_crates": cfg.n_val,
           "pass_rate_pct": round(100 * float(ytr.mean().item()), 1),
           "apples_per_crate": round(float(Mtr.sum(1).mean().item()), 1)})

    model = CrateNet()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=cfg.lr, weight_decay=1e-3)

    loss, grads = nn.value_and_grad(model, bce)(model, Xtr[:cfg.batch], Mtr[:cfg.batch],
                                                ytr[:cfg.batch])
    zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max().item()) == 0.0]
    print({"event": "grad_check", "leaves": len(tree_flatten(grads)), "zero_leaves": zero,
           "loss0": round(loss.item(), 4), "log2": round(float(np.log(2)), 4)})

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, m, y):
        l, g = nn.value_and_grad(model, bce)(model, x, m, y)
        opt.update(model, g)
        return l

    ema = 0.0  # plain (not bias-corrected) running average, starts at 0
    t0 = time.perf_counter()
    for it in range(1, cfg.steps + 1):
        idx = mx.array(rng.integers(0, cfg.n_train, cfg.batch))
        l = step(Xtr[idx], Mtr[idx], ytr[idx])
        mx.eval(state, l)
        ema = cfg.ema_decay * ema + (1 - cfg.ema_decay) * l.item()
        if it in (10, 50) or it % cfg.report_every == 0:
            vl, acc, fpass = metrics(model, Xva, Mva, yva)
            print({"step": it, "ema_train_bce": round(ema, 4), "val_bce": round(vl, 4),
                   "val_acc_pct": round(acc, 1), "false_pass_pct": round(fpass, 1),
                   "sec": round(time.perf_counter() - t0, 1)})

    vl, acc, fpass = metrics(model, Xva, Mva, yva)
    # permutation check: shuffling apples inside a crate must not change the answer
    perm = mx.array(rng.permutation(MAX_APPLES))
    diff = mx.abs(model(Xva, Mva) - model(Xva[:, perm], Mva[:, perm])).max().item()
    print({"event": "done", "val_bce": round(vl, 4), "val_acc_pct": round(acc, 1),
           "max_logit_change_under_shuffle": float(f"{diff:.1e}")})


if __name__ == "__main__":
    main()
