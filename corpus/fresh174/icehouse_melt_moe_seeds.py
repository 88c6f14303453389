"""Ice-harvest era ice house: weekly melt loss (% of stored ice) from storage readings.

A small mixture-of-experts regressor (4 experts, top-2 softmax router, load-balance
penalty) trained with Nesterov SGD; three seeds in turn, each with early stopping that
puts back the best weights. The input standardiser is fitted once and frozen on purpose.
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s icehouse| %(message)s")
log = logging.getLogger("icehouse")

FEATS = ["sawdust_cm", "block_kg", "outside_C", "vent_open", "week_of_season", "packing"]


def make_storage(n, key):
    ks = mx.random.split(key, 8)
    sawdust = mx.random.uniform(5, 60, (n,), key=ks[0])
    block = mx.random.uniform(60, 180, (n,), key=ks[1])
    outside = mx.random.uniform(-5, 32, (n,), key=ks[2])
    vent = (mx.random.uniform(0, 1, (n,), key=ks[3]) < 0.4).astype(mx.float32)
    week = mx.random.uniform(0, 30, (n,), key=ks[4])
    packing = mx.random.uniform(0.5, 1.0, (n,), key=ks[5])
    warm = mx.maximum(outside, 0.0)
    # three regimes: well insulated, thin sawdust, wet sawdust (late season + open vent)
    well = 0.8 + 0.05 * warm * mx.exp(-sawdust / 25) + 0.3 * (1 - packing)
    thin = 1.5 + 0.22 * warm * (1 - sawdust / 70) + 1.2 * (1 - packing)
    wet = 2.5 + 0.35 * warm + 0.08 * week - 2.0 * packing
    size = 120.0 / block
    melt = mx.where(sawdust > 30, well, mx.where((week > 18) & (vent > 0.5), wet, thin)) * size
    melt = melt + 0.08 * mx.random.normal((n,), key=ks[6])
    x = mx.stack([sawdust, block, outside, vent, week, packing], axis=1)
    return x, melt


class Standardiser(nn.Module):
    def __init__(self, x):
        super().__init__()
        self.mean = mx.mean(x, axis=0)
        self.std = mx.std(x, axis=0) + 1e-6

    def __call__(self, x):
        return (x - self.mean) / self.std


class Expert(nn.Module):
    def __init__(self, d_in, d_h):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_h)
        self.l2 = nn.Linear(d_h, 1)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))[..., 0]


class MeltMoE(nn.Module):
    def __init__(self, x_fit, n_experts=4, top_k=2, d_h=24):
        super().__init__()
        self.scale = Standardiser(x_fit)
        self.router = nn.Linear(len(FEATS), n_experts)
        self.experts = [Expert(len(FEATS), d_h) for _ in range(n_experts)]
        self.top_k = top_k

    def __call__(self, x):
        z = self.scale(x)
        logits = self.router(z)
        probs = mx.softmax(logits, axis=-1)
        idx = mx.stop_gradient(mx.argpartition(-probs, kth=self.top_k - 1, axis=-1)[:, : self.top_k])
        top_p = mx.take_along_axis(probs, idx, axis=-1)
        top_p = top_p / top_p.sum(-1, keepdims=True)
        outs = mx.stack([e(z) for e in self.experts], axis=-1)  # dense compute, sparse combine
        y = (mx.take_along_axis(outs, idx, axis=-1) * top_p).sum(-1)
        # switch-style balance: fraction routed x mean prob
        n_e = probs.shape[-1]
        routed = mx.stop_gradient((mx.expand_dims(idx, -1) == mx.arange(n_e)).any(1).astype(mx.float32))
        balance = n_e * mx.sum(routed.mean(0) / self.top_k * probs.mean(0))
        return y, balance


def losses(model, x, y):
    pred, bal = model(x)
    mse = mx.mean((pred - y) ** 2)
    return mse + 0.02 * bal, (mse, bal)


x_tr, y_tr = make_storage(3000, mx.random.key(1))
x_va, y_va = make_storage(800, mx.random.key(2))
var_va = mx.var(y_va).item()
mean_guess_rmse = math.sqrt(mx.mean((y_va - y_tr.mean()) ** 2).item())

summary = []
for seed in (3, 17, 29):
    mx.random.seed(seed)
    model = MeltMoE(x_tr)
    model.scale.freeze()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.03, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, losses)

    # check every trainable tensor actually receives gradient
    (_, _), g0 = vg(model, x_tr[:256], y_tr[:256])
    dead = [k for k, v in tree_flatten(g0) if mx.all(v == 0).item()]
    log.info("seed %d: %d trainable tensors, zero-grad: %s, frozen: scale.mean/std",
             seed, len(tree_flatten(g0)), dead or "none")

    best, best_w, bad, patience = float("inf"), None, 0, 6
    for epoch in range(1, 61):
        perm = mx.random.permutation(x_tr.shape[0])
        tot = mse_acc = bal_acc = 0.0
        nb = 0
        for i in range(0, x_tr.shape[0], 100):
            b = perm[i:i + 100]
            (loss, (mse, bal)), g = vg(model, x_tr[b], y_tr[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); mse_acc += mse.item(); bal_acc += bal.item(); nb += 1
        pred, _ = model(x_va)
        vmse = mx.mean((pred - y_va) ** 2).item()
        r2 = 1 - vmse / var_va
        if epoch % 4 == 0 or epoch == 1:
            log.info("seed %d ep %02d  loss %.4f = mse %.4f + 0.02*bal %.3f | val rmse %.3f %%/wk | r2 %.3f",
                     seed, epoch, tot / nb, mse_acc / nb, bal_acc / nb, math.sqrt(vmse), r2)
        if vmse < best - 1e-4:
            best, bad = vmse, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad += 1
            if bad >= patience:
                log.info("seed %d: no val gain for %d epochs at ep %d, restoring best (val rmse %.3f)",
                         seed, patience, epoch, math.sqrt(best))
                break
    model.update(best_w)
    pred, _ = model(x_va)
    final = math.sqrt(mx.mean((pred - y_va) ** 2).item())
    summary.append((seed, epoch, final, 1 - final ** 2 / var_va))

log.info("seed | stop_ep | val_rmse | r2     | mean-guess rmse")
for seed, ep, rmse, r2 in summary:
    log.info("%4d | %7d | %8.3f | %.4f | %.3f", seed, ep, rmse, r2, mean_guess_rmse)
