# Team pursuit (4 km, 16 laps) race model.
# From the first 8 lap splits + rider fatigue indices + air temperature, predict
#   (a) the final time in seconds, and
#   (b) which of the 4 riders will be dropped first.
# Stage A: calm-air heats, only the time head trains (drop head frozen).
# Stage B: harder heats (crosswind gusts on the splits), drop head unfrozen,
#          joint loss.  Each stage warms the learning rate up from 0.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
N_LAPS_SEEN = 8


def make_heats(n, gust):
    fatigue = rng.uniform(0.0, 1.0, size=(n, 4)).astype(np.float32)
    temp = rng.uniform(16, 30, size=(n, 1)).astype(np.float32)
    pace = rng.normal(14.6, 0.35, size=(n, 1)).astype(np.float32)  # s per 250 m
    lap = np.arange(16, dtype=np.float32)[None, :]
    fade = 0.015 * lap * (1 + fatigue.mean(1, keepdims=True)) ** 2
    heat = -0.006 * (temp - 22.0)
    splits = pace + fade + heat + 0.04 * rng.normal(size=(n, 16)).astype(np.float32)
    splits[:, 0] += 3.2  # standing start
    gusts = gust * rng.normal(size=(n, 16)).astype(np.float32)
    splits_seen = splits[:, :N_LAPS_SEEN] + gusts[:, :N_LAPS_SEEN]
    total = splits.sum(1) + gusts.sum(1) * 0.5
    drop_logit = 4.0 * fatigue + 0.6 * rng.normal(size=(n, 4))
    dropped = drop_logit.argmax(1).astype(np.int32)
    x = np.concatenate([splits_seen, fatigue, temp], axis=1)
    return x, total.astype(np.float32), dropped


xa, ta, da = make_heats(6000, gust=0.0)
xb, tb, db = make_heats(6000, gust=0.12)
xv, tv, dv = make_heats(1000, gust=0.12)
mu, sd = xa.mean(0), xa.std(0) + 1e-6
t_mu, t_sd = ta.mean(), ta.std()


def prep(x, t, d):
    return mx.array((x - mu) / sd), mx.array((t - t_mu) / t_sd), mx.array(d)


XA, TA, DA = prep(xa, ta, da)
XB, TB, DB = prep(xb, tb, db)
XV, TV, DV = prep(xv, tv, dv)
naive_mae = float(np.abs(tv - np.median(ta)).mean())  # predict the calm-air median


class PursuitNet(nn.Module):
    def __init__(self, d_in, hid=128):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hid), nn.GELU(), nn.Linear(hid, hid), nn.GELU())
        self.time_head = nn.Linear(hid, 1)
        self.drop_head = nn.Linear(hid + 4, 4)

    def __call__(self, x):
        h = self.trunk(x)
        t = self.time_head(h).squeeze(-1)
        fat = x[:, N_LAPS_SEEN:N_LAPS_SEEN + 4]
        logits = self.drop_head(mx.concatenate([h, fat], axis=1))
        return t, logits


mx.random.seed(11)
model = PursuitNet(XA.shape[1])
mx.eval(model.parameters())


def losses(model, x, t, d, w_drop):
    tp, logits = model(x)
    l_time = mx.mean((tp - t) ** 2)
    l_drop = mx.mean(nn.losses.cross_entropy(logits, d))
    return l_time + w_drop * l_drop, (l_time, l_drop)


def evaluate():
    tp, logits = model(XV)
    mae = mx.mean(mx.abs(tp - TV)) * t_sd
    acc = mx.mean(mx.argmax(logits, axis=1) == DV) * 100
    return mae.item(), acc.item()


def grad_audit(x, t, d, w_drop, tag):
    _, g = nn.value_and_grad(model, lambda m: losses(m, x[:256], t[:256], d[:256], w_drop)[0])(model)
    norms = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g)}
    groups = {}
    for k, v in norms.items():
        groups.setdefault(k.split(".")[0], []).append(v)
    txt = "  ".join(f"{k}={math.sqrt(sum(n * n for n in v)):.3e}" for k, v in groups.items())
    print(f"# audit[{tag}] grad-norm by block: {txt}")


def run_stage(name, X, T, D, w_drop, epochs, peak_lr, warm_steps, bs=64):
    steps_per_ep = X.shape[0] // bs
    total = epochs * steps_per_ep
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, warm_steps),
         optim.cosine_decay(peak_lr, total - warm_steps, peak_lr * 0.05)],
        [warm_steps])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    lg = nn.value_and_grad(model, lambda m, x, t, d: losses(m, x, t, d, w_drop))
    grad_audit(X, T, D, w_drop, name)
    print(f"{'stg':>3} {'ep':>3} {'lr':>9} {'mse(z)':>8} {'xent':>7} {'MAE s':>7} {'naive s':>7} {'drop%':>6}")
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(X.shape[0]))
        s_t = s_d = 0.0
        for i in range(steps_per_ep):
            idx = perm[i * bs:(i + 1) * bs]
            (loss, (lt, ld)), g = lg(model, X[idx], T[idx], D[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss, lt, ld)
            s_t += lt.item()
            s_d += ld.item()
        mae, acc = evaluate()
        lr_now = opt.learning_rate.item()
        print(f"{name:>3} {ep:>3} {lr_now:9.2e} {s_t / steps_per_ep:8.4f} {s_d / steps_per_ep:7.4f} "
              f"{mae:7.3f} {naive_mae:7.3f} {acc:6.1f}")


t0 = time.time()
mae0, acc0 = evaluate()
print(f"untrained: MAE {mae0:.3f} s, drop-rider acc {acc0:.1f}% (chance 25%)")

model.drop_head.freeze()
run_stage("A", XA, TA, DA, w_drop=0.0, epochs=8, peak_lr=3e-3, warm_steps=60)
model.drop_head.unfreeze()
run_stage("B", XB, TB, DB, w_drop=0.5, epochs=10, peak_lr=2e-3, warm_steps=80)

mae, acc = evaluate()
print(f"final: MAE {mae:.3f} s vs naive {naive_mae:.3f} s | drop-rider {acc:.1f}% | {time.time() - t0:.1f}s")
