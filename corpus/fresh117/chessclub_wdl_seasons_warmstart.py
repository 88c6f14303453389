"""Chess club ratings, season by season.

Ordered-logit win/draw/loss model: P(white result) from the strength difference
plus a white-move advantage, with a learned draw band. Each season is fitted on
its own games, warm-started from the previous season's ratings (players drift a
little between seasons, new members join with rating 0).
"""
from functools import partial
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_PLAYERS = 240
SEASONS = 5
GAMES_PER_SEASON = 30000
EPOCHS = 40
BATCH = 64
PATIENCE = 8
rng = np.random.default_rng(11)
mx.random.seed(11)


class WDL(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.strength = nn.Embedding(n, 1)
        self.strength.weight = mx.zeros((n, 1))
        self.white_adv = mx.array([0.0])
        self.log_draw = mx.array([math.log(0.5)])

    def __call__(self, w, b):
        d = (self.strength(w) - self.strength(b))[:, 0] + self.white_adv
        h = mx.exp(self.log_draw)
        p_white = mx.sigmoid(d - h)
        p_not_black = mx.sigmoid(d + h)
        return mx.stack([p_white, p_not_black - p_white, 1.0 - p_not_black], axis=-1)


def nll(model, w, b, y):
    p = model(w, b)
    return -mx.mean(mx.log(mx.take_along_axis(p, y[:, None], axis=1) + 1e-9))


def simulate_season(true_s, active):
    ids = np.flatnonzero(active)
    w = rng.choice(ids, GAMES_PER_SEASON)
    b = rng.choice(ids, GAMES_PER_SEASON)
    keep = w != b
    w, b = w[keep], b[keep]
    d = true_s[w] - true_s[b] + 0.25
    pw = 1 / (1 + np.exp(-(d - 0.6)))
    pnb = 1 / (1 + np.exp(-(d + 0.6)))
    u = rng.random(len(w))
    y = np.where(u < pw, 0, np.where(u < pnb, 1, 2))
    return w, b, y


def rps(p, y):
    onehot = np.eye(3)[y]
    cp, co = np.cumsum(p, 1)[:, :2], np.cumsum(onehot, 1)[:, :2]
    return float(np.mean(np.sum((cp - co) ** 2, 1) / 2))


model = WDL(N_PLAYERS)
mx.eval(model.parameters())
true_s = rng.normal(0, 1.0, N_PLAYERS)
active = np.zeros(N_PLAYERS, bool)
active[:180] = True

print("season  epochs  best_ep  train_bits  val_bits  val_rps  white_adv  draw_band  corr_true  secs")
for season in range(1, SEASONS + 1):
    if season > 1:
        true_s = true_s + rng.normal(0, 0.15, N_PLAYERS)
        joiners = np.flatnonzero(~active)[:10]
        active[joiners] = True
    w, b, y = simulate_season(true_s, active)
    n_val = len(w) // 6
    tr = slice(n_val, None)
    va = slice(0, n_val)
    W, B, Y = (mx.array(a) for a in (w, b, y))

    opt = optim.Adam(learning_rate=0.02)
    loss_and_grad = nn.value_and_grad(model, nll)

    if season == 1:
        _, g = loss_and_grad(model, W[:BATCH], B[:BATCH], Y[:BATCH])
        print("# step-0 grads: " + ", ".join(
            f"{k}={float(mx.abs(v).max()):.3g}" for k, v in tree_flatten(g)))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(wb, bb, yb):
        loss, grads = loss_and_grad(model, wb, bb, yb)
        opt.update(model, grads)
        return loss

    def val_metrics():
        p = model(W[va], B[va])
        bits = nll(model, W[va], B[va], Y[va]).item() / math.log(2)
        return bits, rps(np.array(p), y[va])

    best = (float("inf"), None, 0)
    t0 = time.time()
    n_tr = len(w) - n_val
    stale = 0
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(n_tr) + n_val)
        tot = 0.0
        for i in range(0, n_tr - BATCH + 1, BATCH):
            idx = perm[i:i + BATCH]
            loss = step(W[idx], B[idx], Y[idx])
            mx.eval(loss, state)
            tot += loss.item() * BATCH
        train_bits = tot / (n_tr // BATCH * BATCH) / math.log(2)
        vb, vr = val_metrics()
        if vb < best[0] - 1e-5:
            best = (vb, tree_map(lambda a: mx.array(a), model.parameters()), epoch)
            stale = 0
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    model.update(best[1])
    mx.eval(model.parameters())
    vb, vr = val_metrics()
    est = np.array(model.strength.weight[:, 0])
    corr = np.corrcoef(est[active], true_s[active])[0, 1]
    print(f"{season:>6}  {epoch:>6}  {best[2]:>7}  {train_bits:>10.4f}  {vb:>8.4f}  {vr:>7.4f}  "
          f"{model.white_adv.item():>9.3f}  {math.exp(model.log_draw.item()):>9.3f}  "
          f"{corr:>9.3f}  {time.time() - t0:>4.1f}")

print("# true white advantage 0.250, true draw band 0.600")
print("# chance level: log2(3) = %.4f bits per game" % math.log2(3))
