"""Canyoning club rope log: how many descents until a static rope is retired.

Weibull accelerated-failure-time model. An MLP gives the log scale of the
Weibull, a single learned scalar gives its log shape. Ropes still in service
when the log was exported are right-censored (they only tell us the rope lasted
*at least* that long).

Learning rate ramps up from exactly 0, then cosine decay; early stopping on the
held-out NLL with the best weights restored at the end.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(1623)
mx.random.seed(1623)

FEATS = ["sheath_mm", "descents_per_wk", "grit_index", "wet_frac", "uv_hours", "rack_descender"]


def make_ropes(n):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    x[:, 5] = (rng.random(n) < 0.4).astype(np.float32) * 2 - 1  # rack vs figure-8
    # true log-scale (in descents)
    mu = (5.0 + 0.35 * x[:, 0] - 0.25 * x[:, 1] - 0.45 * np.tanh(1.5 * x[:, 2])
          - 0.2 * x[:, 3] * x[:, 2] - 0.15 * x[:, 4] ** 2 + 0.2 * x[:, 5])
    k_true = 1.8
    t_fail = np.exp(mu) * (-np.log(rng.random(n))) ** (1.0 / k_true)
    t_cens = rng.uniform(20, 400, size=n)
    t = np.minimum(t_fail, t_cens)
    event = (t_fail <= t_cens).astype(np.float32)
    return x, np.log(t).astype(np.float32), event, mu.astype(np.float32)


xtr, ltr, etr, mutr = make_ropes(900)
xva, lva, eva, muva = make_ropes(1500)
print(f"ropes: train {len(xtr)} (retired {etr.mean():.0%}), val {len(xva)} (retired {eva.mean():.0%})")


class RopeAFT(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
        self.log_k = mx.array(0.0)

    def __call__(self, x):
        return self.body(x).squeeze(-1) + 5.0


def weibull_nll(model, x, logt, ev):
    mu = model(x)
    logk = model.log_k
    k = mx.exp(logk)
    z = k * (logt - mu)  # log of (t/lambda)^k
    log_s = -mx.exp(z)
    log_f = logk - logt + z + log_s  # density over t, with the 1/t jacobian
    return -mx.mean(ev * log_f + (1 - ev) * log_s)


def c_index(pred_mu, logt, ev):
    # higher predicted log-scale should mean longer survival
    lt = logt[:, None] < logt[None, :]
    comparable = lt & (ev[:, None] > 0)
    conc = (pred_mu[:, None] < pred_mu[None, :]) & comparable
    ties = (pred_mu[:, None] == pred_mu[None, :]) & comparable
    return (conc.sum() + 0.5 * ties.sum()) / comparable.sum()


model = RopeAFT()
mx.eval(model.parameters())

EPOCHS, BS = 120, 64
steps_per_epoch = len(xtr) // BS
warm = 4 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.02, warm), optim.cosine_decay(0.02, EPOCHS * steps_per_epoch - warm, 1e-4)],
    [warm])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
loss_grad = nn.value_and_grad(model, weibull_nll)

# gradient audit before training: every parameter must get signal
_, g0 = loss_grad(model, mx.array(xtr[:256]), mx.array(ltr[:256]), mx.array(etr[:256]))
dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print("grad audit:", "all", len(tree_flatten(g0)), "tensors non-zero" if not dead else f"ZERO in {dead}")

oracle_c = c_index(muva, lva, eva)
Xv, Lv, Ev = mx.array(xva), mx.array(lva), mx.array(eva)

print("| ep  | lr       | train nll | val nll | val C  | oracle C | shape k |")
print("|-----|----------|-----------|---------|--------|----------|---------|")
best, best_ep, best_params, patience, bad = np.inf, -1, None, 10, 0
for ep in range(EPOCHS):
    perm = rng.permutation(len(xtr))
    tot = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, g = loss_grad(model, mx.array(xtr[idx]), mx.array(ltr[idx]), mx.array(etr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        if ep == 0 and b == 0:
            print(f"first step: lr {float(sched(mx.array(0))):.6f}, loss {loss.item():.4f} (weights unchanged on purpose)")
    vnll = weibull_nll(model, Xv, Lv, Ev).item()
    vmu = np.array(model(Xv))
    vc = c_index(vmu, lva, eva)
    k_hat = float(mx.exp(model.log_k))
    if ep < 5 or ep % 5 == 4 or vnll < best:
        print(f"| {ep:3d} | {float(opt.learning_rate):.6f} | {tot / steps_per_epoch:9.4f} | {vnll:7.4f} | {vc:.4f} | {oracle_c:8.4f} | {k_hat:7.3f} |")
    if vnll < best - 1e-4:
        best, best_ep, bad = vnll, ep, 0
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
    else:
        bad += 1
        if bad >= patience:
            print(f"early stop at epoch {ep}: no val improvement for {patience} epochs")
            break

model.update(best_params)
mx.eval(model.parameters())
vnll = weibull_nll(model, Xv, Lv, Ev).item()
vc = c_index(np.array(model(Xv)), lva, eva)
print(f"restored epoch {best_ep}: val nll {vnll:.4f} (best seen {best:.4f}), C-index {vc:.4f} vs oracle {oracle_c:.4f}, "
      f"shape k {float(mx.exp(model.log_k)):.3f} (true 1.8)")
