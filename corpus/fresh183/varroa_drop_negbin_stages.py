"""Sticky-board varroa drop counts (mites / 3 days) per hive -> negative-binomial MLP.
Two-stage curriculum: stage 1 = recently treated hives only (low counts), stage 2 = every hive.
Each stage re-warms the learning rate from exactly 0. Plain momentum SGD written by hand."""
import math, time, sys
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import clip_grad_norm
from mlx.utils import tree_map, tree_flatten

rs = np.random.default_rng(2024)
mx.random.seed(11)

def hives(n):
    strength = rs.uniform(3, 12, n)          # frames of bees
    brood = rs.uniform(0, 8, n)              # brood frames
    days_tx = rs.uniform(0, 180, n)          # days since oxalic treatment
    doy = rs.uniform(60, 300, n)
    elev = rs.uniform(0, 900, n)             # m
    drone = rs.uniform(0, 0.3, n)            # drone brood share
    X = np.stack([strength / 12, brood / 8, days_tx / 180, np.sin(2 * np.pi * doy / 365),
                  np.cos(2 * np.pi * doy / 365), elev / 900, drone / 0.3], 1).astype(np.float32)
    log_mu = (-0.5 + 0.9 * X[:, 1] + 2.6 * X[:, 2] ** 1.5 + 1.2 * X[:, 6] * X[:, 2]
              - 0.6 * X[:, 5] + 0.5 * X[:, 3] + 0.3 * X[:, 0])
    r = 3.0                                   # true NB dispersion
    lam = rs.gamma(r, np.exp(log_mu) / r)
    y = rs.poisson(lam).astype(np.float32)
    return X, y, days_tx

Xtr, ytr, dtr = hives(6000)
Xva, yva, dva = hives(1500)
easy = dtr < 60
print(f"hives: train {len(ytr)} (stage-1 subset {easy.sum()}), val {len(yva)}; mean drop {ytr.mean():.1f} mites, max {ytr.max():.0f}")

def lgamma(x):
    # no lgamma: shift by 6 then Stirling series (abs err < 1e-7 for x > 0)
    z = x + 6.0
    shift = mx.log(x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5))
    zi = 1.0 / z
    return ((z - 0.5) * mx.log(z) - z + 0.5 * math.log(2 * math.pi)
            + zi / 12 - zi ** 3 / 360 + zi ** 5 / 1260 - shift)

class DropNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.mu = nn.Linear(48, 1)
        self.log_r = mx.array([0.0])
    def __call__(self, x):
        return self.mu(self.body(x)).squeeze(-1), self.log_r

def nb_nll(model, x, y):
    log_mu, log_r = model(x)
    r = mx.exp(log_r)
    ll = (lgamma(y + r) - lgamma(r) - lgamma(y + 1)
          + r * (log_r - mx.logaddexp(log_r, log_mu)) + y * (log_mu - mx.logaddexp(log_r, log_mu)))
    return -ll.mean()

model = DropNet()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, nb_nll)
velocity = tree_map(mx.zeros_like, model.trainable_parameters())

# mean-only baseline (NB with the training mean and a moment-matched r)
def baseline_nll(y, m, r):
    y = mx.array(y)
    return -(lgamma(y + r) - math.lgamma(r) - lgamma(y + 1) + r * math.log(r / (r + m)) + y * math.log(m / (r + m))).mean().item()
m_tr, v_tr = ytr.mean(), ytr.var()
r_mom = m_tr ** 2 / max(v_tr - m_tr, 1e-3)

checked = False
BS, PEAK, MOM = 128, 0.02, 0.9
stages = [("treated<60d", Xtr[easy], ytr[easy], 260), ("all hives", Xtr, ytr, 420)]
t0 = time.time()
for si, (sname, Xs, ys, n_steps) in enumerate(stages, 1):
    Xs_m, ys_m = mx.array(Xs), mx.array(ys)
    warm = 60
    run = 0.0
    for it in range(n_steps):
        lr = PEAK * it / warm if it < warm else PEAK * 0.5 * (1 + math.cos(math.pi * (it - warm) / (n_steps - warm)))
        idx = mx.array(rs.integers(0, len(ys), BS))
        loss, g = grad_fn(model, Xs_m[idx], ys_m[idx])
        if not checked:
            zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0]
            print(f"grad check: {len(tree_flatten(g))} tensors, all-zero: {zero or 'none'}")
            checked = True
        g, _ = clip_grad_norm(g, 5.0)
        velocity = tree_map(lambda v, gg: MOM * v + gg, velocity, g)
        model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity))
        mx.eval(model.parameters(), velocity, loss)
        run = loss.item() if it == 0 else 0.95 * run + 0.05 * loss.item()
        if (it + 1) % 60 == 0 or it == n_steps - 1:
            frac = (it + 1) / n_steps
            bar = "#" * int(20 * frac) + " " * (20 - int(20 * frac))
            el = time.time() - t0
            sys.stdout.write(f"stage {si}/2 [{sname}] |{bar}| {it + 1}/{n_steps} [{int(el // 60):02d}:{el % 60:04.1f}, lr={lr:.4f}] nll={run:.3f}\n")
            sys.stdout.flush()
    va = nb_nll(model, mx.array(Xva), mx.array(yva)).item()
    print(f"  -> end of stage {si}: val nll {va:.3f}  (mean-only NB baseline {baseline_nll(yva, m_tr, r_mom):.3f})")

log_mu, log_r = model(mx.array(Xva))
pred = np.array(mx.exp(log_mu))
mae = np.abs(pred - yva).mean()
base_mae = np.abs(np.median(ytr) - yva).mean()
print("\n| metric              | model  | baseline |")
print("|---------------------|--------|----------|")
print(f"| val NB nll          | {nb_nll(model, mx.array(Xva), mx.array(yva)).item():6.3f} | {baseline_nll(yva, m_tr, r_mom):8.3f} |")
print(f"| val MAE (mites)     | {mae:6.2f} | {base_mae:8.2f} |")
print(f"| dispersion r (true 3) | {math.exp(log_r.item()):5.2f} | {r_mom:8.2f} |")
print(f"done in {time.time() - t0:.1f}s")
