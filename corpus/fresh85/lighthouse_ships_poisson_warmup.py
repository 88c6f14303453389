"""Poisson regression: ships sighted per 4-hour lighthouse watch.
LR warm-up from exactly 0; loss = Poisson NLL on the log-rate; metric = mean deviance (lower better)."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(42)
def make(n):
    hour = rng.integers(0, 6, n) * 4 + 2                  # watch mid-hour
    vis = rng.uniform(0.2, 20.0, n)                        # visibility, nautical miles
    wind = rng.gamma(2.0, 6.0, n)                          # knots
    season = rng.integers(0, 12, n)
    holiday = (rng.random(n) < 0.1).astype(np.float32)
    eta = (1.2 + 0.5 * np.sin(2 * np.pi * hour / 24) + 0.35 * np.log(vis)
           - 0.03 * wind + 0.4 * np.cos(2 * np.pi * (season - 6) / 12) + 0.6 * holiday)
    y = rng.poisson(np.exp(eta)).astype(np.float32)
    X = np.stack([np.sin(2*np.pi*hour/24), np.cos(2*np.pi*hour/24), np.log(vis), wind,
                  np.sin(2*np.pi*season/12), np.cos(2*np.pi*season/12), holiday], 1).astype(np.float32)
    return X, y, np.exp(eta)
Xtr, ytr, _ = make(12000); Xte, yte, mu_te = make(2000)
m, s = Xtr.mean(0), Xtr.std(0); Xtr = (Xtr - m) / s; Xte = (Xte - m) / s

class RateNet(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)
        self.head.bias = mx.array([math.log(float(ytr.mean()))])   # start at the mean rate
    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)           # log-rate

def deviance(y, mu):
    y = np.asarray(y, np.float64); mu = np.asarray(mu, np.float64)
    t = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0.0)
    return float(np.mean(2 * (t - (y - mu))))

def poisson_nll(model, x, y):
    eta = model(x)
    return mx.mean(mx.exp(eta) - y * eta)

mx.random.seed(0)
net = RateNet(Xtr.shape[1])
TOTAL, WARM, BS = 2400, 300, 128
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM),
                              optim.cosine_decay(3e-3, TOTAL - WARM, 3e-5)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
vg = nn.value_and_grad(net, poisson_nll)
Xte_m = mx.array(Xte)

def test_dev():
    return deviance(yte, np.exp(np.array(net(Xte_m))))

print(f"watches train={len(ytr)} test={len(yte)} | mean ships/watch={ytr.mean():.2f}"
      f" | oracle deviance={deviance(yte, mu_te):.4f} | constant-rate deviance={deviance(yte, np.full_like(yte, ytr.mean())):.4f}")
print(f"step=0 | lr=- | train_nll=- | test_deviance={test_dev():.4f}")
t0, perm, cur, window = time.time(), rng.permutation(len(ytr)), 0, []
for step in range(1, TOTAL + 1):
    if cur + BS > len(perm):
        perm, cur = rng.permutation(len(ytr)), 0
    idx = mx.array(perm[cur:cur + BS]); cur += BS
    lr_used = float(sched(opt.step))
    loss, g = vg(net, mx.array(Xtr)[idx], mx.array(ytr)[idx])
    if step == 1:
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if not bool(mx.any(v != 0))]
        print(f"grad_check | leaves={len(leaves)} | zero={zero}")
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state, loss)
    window.append(loss.item())
    if step in (1, 50) or step % 400 == 0:
        print(f"step={step} | lr={lr_used:.2e} | train_nll={np.mean(window):.4f}"
              f" | test_deviance={test_dev():.4f} | secs={time.time() - t0:.1f}")
        window = []
print(f"done | test_deviance={test_dev():.4f} (oracle {deviance(yte, mu_te):.4f}) | secs={time.time() - t0:.1f}")
