"""Bird-feeder visit counts: negative-binomial regression.

Each of 48 feeder sites has a fixed geographic code (sin/cos of lat/lon at a few
frequencies) that we keep in an nn.Embedding and FREEZE on purpose: the code is a
lookup table, not something to learn.  A small MLP on [geo code, weather] gives
log(mu); a learned log-dispersion scalar gives the NB2 overdispersion.
Training step is compiled with the model and optimizer state as inputs/outputs.
Early stopping on validation NLL restores the best weights at the end.
Prints one JSON object per line.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_SITES, GEO_DIM, N_WEATHER = 48, 8, 4
rng = np.random.default_rng(2024)


def geo_code(lat, lon):
    feats = []
    for f in (1.0, 2.0):
        feats += [np.sin(f * lat), np.cos(f * lat), np.sin(f * lon), np.cos(f * lon)]
    return np.stack(feats, axis=-1).astype(np.float32)


lat = rng.uniform(-1.2, 1.2, N_SITES)
lon = rng.uniform(-2.5, 2.5, N_SITES)
GEO = geo_code(lat, lon)                                   # (48, 8)


def make_split(n):
    site = rng.integers(0, N_SITES, n)
    weather = rng.normal(size=(n, N_WEATHER)).astype(np.float32)
    g = GEO[site]
    log_mu = (1.3 + 0.8 * g[:, 0] - 0.6 * g[:, 3] + 0.5 * g[:, 4] * g[:, 6]
              + 0.45 * weather[:, 0] - 0.3 * np.abs(weather[:, 1])
              + 0.25 * np.tanh(2 * weather[:, 2]))
    mu = np.exp(log_mu)
    r_true = 2.5                                          # true dispersion alpha = 0.4
    lam = rng.gamma(shape=r_true, scale=mu / r_true)
    y = rng.poisson(lam).astype(np.float32)
    return site.astype(np.int32), weather, y


def lgamma(x):
    """log Gamma(x) for x > 0: shift by 6 then Stirling series (err < 1e-7)."""
    shift = x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5)
    z = x + 6.0
    inv = 1.0 / z
    inv2 = inv * inv
    series = inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 / 1680)))
    return (z - 0.5) * mx.log(z) - z + 0.5 * math.log(2 * math.pi) + series - mx.log(shift)


def nb2_nll(log_mu, log_alpha, y):
    """Mean negative log-likelihood of NB2(mu, alpha); r = 1/alpha."""
    r = mx.exp(-log_alpha)
    mu = mx.exp(log_mu)
    log_r_mu = mx.logaddexp(mx.log(r), log_mu)             # log(r + mu)
    ll = (lgamma(y + r) - lgamma(r) - lgamma(y + 1.0)
          + r * (mx.log(r) - log_r_mu) + y * (log_mu - log_r_mu))
    return -mx.mean(ll)


class FeederModel(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.geo = nn.Embedding(N_SITES, GEO_DIM)
        self.geo.weight = mx.array(GEO)                     # fixed lookup table
        self.body = nn.Sequential(nn.Linear(GEO_DIM + N_WEATHER, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU())
        self.head = nn.Linear(hidden, 1)
        self.log_alpha = mx.array(0.0)

    def __call__(self, site, weather):
        h = mx.concatenate([self.geo(site), weather], axis=-1)
        return self.head(self.body(h)).squeeze(-1)


def batches(n, size, perm):
    for start in range(0, n - size + 1, size):
        yield mx.array(perm[start:start + size])


def main():
    t0 = time.time()
    tr_site, tr_w, tr_y = make_split(8000)
    va_site, va_w, va_y = make_split(2000)
    tr = (mx.array(tr_site), mx.array(tr_w), mx.array(tr_y))
    va = (mx.array(va_site), mx.array(va_w), mx.array(va_y))
    print(json.dumps({"event": "data", "train": 8000, "valid": 2000,
                      "mean_count": round(float(tr_y.mean()), 3),
                      "var_count": round(float(tr_y.var()), 3),
                      "zero_share_pct": round(100 * float((tr_y == 0).mean()), 1)}))

    mx.random.seed(7)
    model = FeederModel()
    model.geo.freeze()                                      # keep the geo table fixed
    mx.eval(model.parameters())
    geo_before = np.array(model.geo.weight)

    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(site, weather, y):
        return nb2_nll(model(site, weather), model.log_alpha, y)

    # first-step gradient check, outside the compiled step
    lg = nn.value_and_grad(model, lambda m, s, w, y: nb2_nll(m(s, w), m.log_alpha, y))
    idx0 = mx.arange(128)
    l0, g0 = lg(model, tr[0][idx0], tr[1][idx0], tr[2][idx0])
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(json.dumps({"event": "grad_check", "loss": round(float(l0), 4),
                      "trainable_leaves": len(leaves), "zero_grad_leaves": zero,
                      "frozen": ["geo.weight"]}))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(site, weather, y):
        loss, grads = nn.value_and_grad(model, lambda m, s, w, t: nb2_nll(m(s, w), m.log_alpha, t))(
            model, site, weather, y)
        opt.update(model, grads)
        return loss

    def evaluate():
        log_mu = model(va[0], va[1])
        nll = nb2_nll(log_mu, model.log_alpha, va[2])
        mae = mx.mean(mx.abs(mx.exp(log_mu) - va[2]))
        return float(nll), float(mae)

    nll0, mae0 = evaluate()
    print(json.dumps({"event": "epoch", "epoch": 0, "train_nll": None,
                      "val_nll": round(nll0, 4), "val_mae_visits": round(mae0, 3),
                      "alpha": round(float(mx.exp(model.log_alpha)), 3)}))

    best_nll, best_epoch, patience, bad = float("inf"), -1, 4, 0
    best_params = None
    for epoch in range(1, 41):
        perm = rng.permutation(8000)
        total, nb = 0.0, 0
        for idx in batches(8000, 128, perm):
            loss = step(tr[0][idx], tr[1][idx], tr[2][idx])
            mx.eval(loss, state)
            total += loss.item()
            nb += 1
        val_nll, val_mae = evaluate()
        improved = val_nll < best_nll - 1e-4
        if improved:
            best_nll, best_epoch, bad = val_nll, epoch, 0
            best_params = tree_flatten(model.trainable_parameters())
        else:
            bad += 1
        print(json.dumps({"event": "epoch", "epoch": epoch,
                          "train_nll": round(total / nb, 4), "val_nll": round(val_nll, 4),
                          "val_mae_visits": round(val_mae, 3),
                          "alpha": round(float(mx.exp(model.log_alpha)), 3),
                          "best": improved, "secs": round(time.time() - t0, 1)}))
        if bad >= patience:
            print(json.dumps({"event": "early_stop", "epoch": epoch, "best_epoch": best_epoch}))
            break

    model.update(tree_unflatten(best_params))
    mx.eval(model.parameters())
    final_nll, final_mae = evaluate()
    geo_moved = float(np.abs(np.array(model.geo.weight) - geo_before).max())
    print(json.dumps({"event": "done", "restored_epoch": best_epoch,
                      "val_nll": round(final_nll, 4), "val_mae_visits": round(final_mae, 3),
                      "true_alpha": 0.4, "fitted_alpha": round(float(mx.exp(model.log_alpha)), 3),
                      "geo_table_max_change": geo_moved,
                      "secs": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
