import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
L = 64              # envelope samples, 10 ms apart
QS = mx.array([0.1, 0.5, 0.9])

def make_rooms(n):
    vol = rng.uniform(30, 3000, n)                  # m^3
    alpha = rng.uniform(0.05, 0.6, n)               # mean absorption
    surface = 6.0 * vol ** (2 / 3) * rng.uniform(0.9, 1.3, n)
    rt60 = 0.161 * vol / (surface * alpha)          # Sabine, seconds
    rt60 = rt60 * np.exp(rng.normal(0, 0.08, n))    # real rooms deviate
    t = np.arange(L) * 0.01
    db = -60.0 * t[None, :] / rt60[:, None]
    floor = rng.uniform(-75, -55, n)[:, None]
    env = 10 * np.log10(10 ** (db / 10) + 10 ** (floor / 10)) + rng.normal(0, 1.5, (n, L))
    # what a naive meter would read from the nominal room spec
    sabine_guess = 0.161 * vol / (6.0 * vol ** (2 / 3) * 1.1 * alpha)
    feats = np.concatenate([env / 30.0, np.log(vol)[:, None] / 8.0], axis=1).astype(np.float32)
    return feats, np.log(rt60).astype(np.float32), sabine_guess

Xtr, ytr, _ = make_rooms(6000)
Xva, yva, sab_va = make_rooms(1500)
print("| stage | epoch | lr | pinball_train | pinball_valid | mae_ms | cover_80 | note |")
print("|---|---|---|---|---|---|---|---|")
sab_mae = np.abs(sab_va - np.exp(yva)).mean() * 1000
print(f"| baseline | - | - | - | - | {sab_mae:.0f} | - | Sabine from nominal spec |")

class DecayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(L + 1, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.mid = nn.Linear(96, 1)
        self.spread = nn.Linear(96, 2)
    def __call__(self, x):
        h = self.body(x)
        m = self.mid(h)
        s = nn.softplus(self.spread(h))            # keeps quantiles ordered
        return mx.concatenate([m - s[:, :1], m, m + s[:, 1:]], axis=1)

def pinball(pred, y):
    e = y[:, None] - pred
    return mx.maximum(QS * e, (QS - 1) * e).mean()

model = DecayNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
lg = nn.value_and_grad(model, lambda m, x, y: pinball(m(x), y))

def valid():
    p = model(mx.array(Xva)); y = mx.array(yva)
    pl = pinball(p, y).item()
    p = np.array(p)
    mae = np.abs(np.exp(p[:, 1]) - np.exp(yva)).mean() * 1000
    cov = ((yva >= p[:, 0]) & (yva <= p[:, 2])).mean()
    return pl, mae, cov

pl, mae, cov = valid()
print(f"| init | 0 | {0.05:.4f} | - | {pl:.4f} | {mae:.0f} | {100*cov:.0f}% | |")
best, bad, t0, step = 1e9, 0, time.time(), 0
for ep in range(1, 19):
    perm = rng.permutation(len(ytr)); tot = 0.0; nb = 0
    for i in range(0, len(ytr), 100):
        idx = perm[i:i + 100]
        loss, g = lg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        if step == 0:
            z = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0]
            print(f"| check | 0 | - | - | - | - | - | {len(tree_flatten(g))} grad leaves, zero: {len(z)} |")
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item(); nb += 1; step += 1
    pl, mae, cov = valid()
    note = ""
    if pl < best - 1e-4:
        best, bad = pl, 0
    else:
        bad += 1
        if bad >= 2:
            opt.learning_rate = opt.learning_rate * 0.5
            bad = 0
            note = "lr halved (valid flat 2 epochs)"
    print(f"| train | {ep} | {opt.learning_rate.item():.4f} | {tot/nb:.4f} | {pl:.4f} | {mae:.0f} | {100*cov:.0f}% | {note} |")
print(f"finished in {time.time()-t0:.1f}s: median-quantile MAE {mae:.0f} ms vs Sabine {sab_mae:.0f} ms, 80% band covers {100*cov:.0f}%")
