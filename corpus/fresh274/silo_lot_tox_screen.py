"""Grain elevator intake: will a delivered lot fail the mycotoxin screen?

Rare positive class (~4 %).  Three categorical fields go through embedding
tables, five numeric readings are standardised with train-set statistics.
Batches are drawn class-balanced and the loss is re-weighted back to the true
prior, so the printed loss is an estimate of the plain log-loss.
Training is split into two sittings with a checkpoint in between.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_SITE, N_VARIETY, N_WEEK = 30, 12, 10


def make_lots(n, rng, site_eff, var_eff, week_eff):
    site = rng.integers(0, N_SITE, n)
    variety = rng.integers(0, N_VARIETY, n)
    week = rng.integers(0, N_WEEK, n)
    moisture = rng.normal(14.5, 1.6, n)          # percent
    damage = rng.gamma(2.0, 1.2, n)              # percent damaged kernels
    rain = rng.gamma(1.5, 12.0, n)               # mm in the harvest week
    storage = rng.integers(0, 120, n).astype(float)  # days in farm storage
    temp = rng.normal(18.0, 4.0, n)              # deg C at intake
    logit = (-4.6 + 0.55 * (moisture - 14.5) + 0.35 * (damage - 2.4)
             + 0.02 * (rain - 18.0) + 0.012 * (storage - 60.0)
             + 0.06 * (temp - 18.0) * (moisture > 15.5)
             + site_eff[site] + var_eff[variety] + week_eff[week])
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.float32)
    num = np.stack([moisture, damage, np.log1p(rain), storage, temp], 1).astype(np.float32)
    cat = np.stack([site, variety, week], 1).astype(np.int32)
    return cat, num, y, p


class LotNet(nn.Module):
    def __init__(self, prior):
        super().__init__()
        self.site = nn.Embedding(N_SITE, 6)
        self.variety = nn.Embedding(N_VARIETY, 4)
        self.week = nn.Embedding(N_WEEK, 3)
        self.l1 = nn.Linear(6 + 4 + 3 + 5, 64)
        self.l2 = nn.Linear(64, 32)
        self.head = nn.Linear(32, 1)
        # start the output at the log-odds of the base rate
        self.head.weight = self.head.weight * 0.1
        self.head.bias = mx.array([float(np.log(prior / (1 - prior)))])

    def __call__(self, cat, num):
        h = mx.concatenate(
            [self.site(cat[:, 0]), self.variety(cat[:, 1]), self.week(cat[:, 2]), num], axis=1)
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(1)


def weighted_logloss(model, cat, num, y, w):
    ll = nn.losses.binary_cross_entropy(model(cat, num), y, reduction="none")
    return (w * ll).sum() / w.sum()


def average_precision(y, s):
    order = np.argsort(-s)
    y = y[order]
    tp = np.cumsum(y)
    prec = tp / np.arange(1, len(y) + 1)
    return float((prec * y).sum() / max(y.sum(), 1))


def leader(label, value, width=46):
    return f"  {label} {'.' * (width - len(label) - len(value) - 2)} {value}"


def evaluate(model, cat, num, y):
    logits = model(cat, num)
    ll = nn.losses.binary_cross_entropy(logits, mx.array(y), reduction="mean").item()
    p = np.array(mx.sigmoid(logits))
    return ll, average_precision(y, p), float(np.mean((p - y) ** 2))


def run_epochs(model, opt, first, last, data, rng, report):
    cat, num, y, pos_idx, neg_idx, w_pos, w_neg = data
    step_fn = nn.value_and_grad(model, weighted_logloss)
    bs, n_pos_b = 256, 64
    steps = len(y) // bs
    for ep in range(first, last + 1):
        t0 = time.perf_counter()
        run = []
        for _ in range(steps):
            idx = np.concatenate([rng.choice(pos_idx, n_pos_b), rng.choice(neg_idx, bs - n_pos_b)])
            yb = y[idx]
            wb = np.where(yb > 0, w_pos, w_neg).astype(np.float32)
            ii = mx.array(idx)
            loss, grads = step_fn(model, cat[ii], num[ii], mx.array(yb), mx.array(wb))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run.append(loss.item())
        report(ep, float(np.mean(run)), time.perf_counter() - t0)


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    site_eff = rng.normal(0, 0.6, N_SITE)
    var_eff = rng.normal(0, 0.5, N_VARIETY)
    week_eff = np.linspace(-0.4, 0.8, N_WEEK)
    cat_tr, num_tr, y_tr, _ = make_lots(30000, rng, site_eff, var_eff, week_eff)
    cat_va, num_va, y_va, p_va = make_lots(8000, rng, site_eff, var_eff, week_eff)
    mu, sd = num_tr.mean(0), num_tr.std(0)
    num_tr = (num_tr - mu) / sd
    num_va = (num_va - mu) / sd
    prior = float(y_tr.mean())

    pos_idx = np.flatnonzero(y_tr > 0)
    neg_idx = np.flatnonzero(y_tr == 0)
    share = 64 / 256
    w_pos, w_neg = prior / share, (1 - prior) / (1 - share)

    print("INTAKE SCREEN MODEL")
    print(leader("lots train / valid", f"{len(y_tr)} / {len(y_va)}"))
    print(leader("failed-screen rate (train)", f"{100 * prior:.2f} %"))
    print(leader("batch positives / weight", f"25 % / {w_pos:.3f}"))
    clim_ll = float(-(y_va * np.log(prior) + (1 - y_va) * np.log(1 - prior)).mean())
    clim_brier = float(np.mean((prior - y_va) ** 2))
    oracle_ap = average_precision(y_va, p_va)
    print(leader("climatology log-loss (valid)", f"{clim_ll:.4f}"))
    print(leader("climatology Brier (valid)", f"{clim_brier:.5f}"))
    print(leader("prevalence = chance AP (valid)", f"{y_va.mean():.4f}"))
    print(leader("true-probability AP (valid)", f"{oracle_ap:.4f}"))

    cat_tr_m, num_tr_m = mx.array(cat_tr), mx.array(num_tr)
    cat_va_m, num_va_m = mx.array(cat_va), mx.array(num_va)
    data = (cat_tr_m, num_tr_m, y_tr, pos_idx, neg_idx, w_pos, w_neg)

    model = LotNet(prior)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1.5e-3, weight_decay=1e-4)

    # one eager gradient check before training
    ii = mx.array(np.concatenate([pos_idx[:32], neg_idx[:96]]))
    yb = y_tr[np.array(ii)]
    wb = np.where(yb > 0, w_pos, w_neg).astype(np.float32)
    _, g = nn.value_and_grad(model, weighted_logloss)(
        model, cat_tr_m[ii], num_tr_m[ii], mx.array(yb), mx.array(wb))
    leaves = tree_flatten(g)
    nz = sum(1 for _, v in leaves if float(mx.abs(v).max()) > 0)
    print(leader("gradient tensors non-zero", f"{nz} / {len(leaves)}"))

    ll, ap, br = evaluate(model, cat_va_m, num_va_m, y_va)
    print("untrained")
    print(leader("valid log-loss", f"{ll:.4f}"))
    print(leader("valid AP", f"{ap:.4f}"))

    def report(ep, train_ll, secs):
        ll, ap, br = evaluate(model, cat_va_m, num_va_m, y_va)
        print(f"epoch {ep}")
        print(leader("reweighted train log-loss", f"{train_ll:.4f}"))
        print(leader("valid log-loss", f"{ll:.4f}"))
        print(leader("valid Brier", f"{br:.5f}"))
        print(leader("valid AP", f"{ap:.4f}"))
        print(leader("seconds", f"{secs:.1f}"))

    print("sitting 1")
    run_epochs(model, opt, 1, 4, data, rng, report)

    with tempfile.TemporaryDirectory() as d:
        wpath = os.path.join(d, "lotnet.safetensors")
        spath = os.path.join(d, "adamw_state.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
        ref = np.array(model(cat_va_m[:512], num_va_m[:512]))
        del model, opt

        model = LotNet(0.5)
        model.load_weights(wpath)
        opt = optim.AdamW(learning_rate=1.5e-3, weight_decay=1e-4)
        opt.init(model.trainable_parameters())
        saved = mx.load(spath)
        opt.state = tree_unflatten(list(saved.items()))
        mx.eval(model.parameters(), opt.state)
        drift = float(np.abs(np.array(model(cat_va_m[:512], num_va_m[:512])) - ref).max())
        print("sitting 2 (reloaded from checkpoint)")
        print(leader("prediction drift after reload", f"{drift:.2e}"))
        print(leader("optimizer step after reload", f"{int(opt.state['step'].item())}"))

    run_epochs(model, opt, 5, 8, data, rng, report)

    ll, ap, br = evaluate(model, cat_va_m, num_va_m, y_va)
    print("summary")
    print(leader("log-loss skill vs climatology", f"{100 * (1 - ll / clim_ll):.1f} %"))
    print(leader("Brier skill vs climatology", f"{100 * (1 - br / clim_brier):.1f} %"))
    print(leader("AP / true-probability AP", f"{ap:.4f} / {oracle_ap:.4f}"))


if __name__ == "__main__":
    main()
