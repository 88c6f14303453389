"""Glacier meltwater discharge: heteroscedastic Gaussian NLL, early stopping with best-weight restore."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

class Config:
    n_train, n_val, n_test = 700, 600, 3000
    hidden, batch, lr, wd = 128, 32, 3e-3, 0.0
    max_epochs, patience = 150, 12
    seed = 3

cfg = Config()
rng = np.random.default_rng(cfg.seed)

def gauge_days(n):
    temp = rng.normal(4, 5, n)              # degC at the snout
    sun = rng.uniform(0, 1, n)              # clear-sky share
    rain = rng.exponential(3, n)            # mm
    doy = rng.uniform(120, 280, n)          # day of year
    debris = rng.uniform(0, 1, n)           # debris cover share
    melt = np.maximum(temp, 0) * (0.9 + 0.8 * sun) * (1 - 0.6 * debris)
    season = np.sin((doy - 120) / 160 * np.pi)
    mean = 2.0 + 1.1 * melt * season + 0.35 * rain
    noise_sd = 0.4 + 0.12 * mean            # noisier on big-melt days
    q = mean + rng.normal(0, 1, n) * noise_sd
    X = np.stack([temp, sun, rain, np.sin(doy / 365 * 2 * np.pi), np.cos(doy / 365 * 2 * np.pi), debris], 1)
    return X.astype(np.float32), q.astype(np.float32)

Xtr, ytr = gauge_days(cfg.n_train)
Xva, yva = gauge_days(cfg.n_val)
Xte, yte = gauge_days(cfg.n_test)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = float(ytr.mean()), float(ytr.std())
to_mx = lambda X, y: (mx.array((X - mu) / sd), mx.array((y - ym) / ys))
tr, va, te = to_mx(Xtr, ytr), to_mx(Xva, yva), to_mx(Xte, yte)

class MeanVar(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, h), nn.GELU(), nn.Linear(h, h), nn.GELU())
        self.mean = nn.Linear(h, 1)
        self.logvar = nn.Linear(h, 1)
    def __call__(self, x):
        z = self.body(x)
        return self.mean(z).squeeze(-1), self.logvar(z).squeeze(-1)

def nll(model, x, y):
    m, lv = model(x)
    # Gaussian NLL per day in standardised units, constant 0.5*log(2*pi) included
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))

def evaluate(model, data):
    x, y = data
    m, lv = model(x)
    n = nll(model, x, y).item() + np.log(ys)          # nats per day in m^3/s units
    rmse = float(mx.sqrt(mx.mean((m - y) ** 2)).item()) * ys
    z = mx.abs(y - m) * mx.exp(-0.5 * lv)
    cover = float(mx.mean(z < 1.645).item()) * 100    # 90% interval coverage
    return n, rmse, cover

mx.random.seed(cfg.seed)
model = MeanVar(cfg.hidden)
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=cfg.lr)
step_fn = nn.value_and_grad(model, nll)

n0, r0, c0 = evaluate(model, va)
print(f"glacier gauge: {cfg.n_train} train / {cfg.n_val} val / {cfg.n_test} test days; discharge sd {ys:.2f} m3/s")
print(f"untrained       val nll {n0:8.3f} nats/day   val rmse {r0:.3f} m3/s   90%-coverage {c0:5.1f}%")
print(f"{'epoch':>5} {'train nll':>10} {'val nll':>9} {'val rmse':>9} {'cover90':>8}  note")

best = (float("inf"), -1, None)
bad, t0 = 0, time.time()
prng = np.random.default_rng(cfg.seed + 1)
for epoch in range(1, cfg.max_epochs + 1):
    perm = prng.permutation(cfg.n_train)
    losses = []
    for s in range(0, cfg.n_train - cfg.batch + 1, cfg.batch):
        idx = mx.array(perm[s:s + cfg.batch])
        loss, grads = step_fn(model, tr[0][idx], tr[1][idx])
        if epoch == 1 and s == 0:
            flat = tree_flatten(grads)
            dead = [k for k, g in flat if not bool(mx.any(g != 0).item())]
            print(f"      first step: {len(flat)} gradient leaves, all-zero: {dead if dead else 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    train_nll = float(np.mean(losses)) + np.log(ys)
    vn, vr, vc = evaluate(model, va)
    note = ""
    if vn < best[0]:
        best = (vn, epoch, tree_map(lambda p: mx.array(p), model.parameters()))
        bad, note = 0, "* best"
    else:
        bad += 1
    if epoch <= 5 or epoch % 5 == 0 or note or bad >= cfg.patience:
        print(f"{epoch:>5} {train_nll:>10.3f} {vn:>9.3f} {vr:>9.3f} {vc:>7.1f}%  {note}")
    if bad >= cfg.patience:
        print(f"      early stop: no val improvement for {cfg.patience} epochs (last val nll {vn:.3f})")
        break

model.update(best[2])
mx.eval(model.parameters())
vn, vr, vc = evaluate(model, va)
tn, tr_, tc = evaluate(model, te)
print(f"restored epoch {best[1]} weights: val nll {vn:.3f} (best was {best[0]:.3f})")
print(f"test  nll {tn:.3f} nats/day   rmse {tr_:.3f} m3/s   90%-coverage {tc:.1f}%   ({time.time()-t0:.1f}s)")
