# Rope-walk test bench: break load (kN) of laid hemp rope from 6 raw bench readings.
# Inputs are standardised with streaming (Welford) statistics gathered during epoch 1 and frozen after.
# Heteroscedastic Gaussian NLL (goes negative once the fit is tight), SGD momentum with step decay,
# checkpoint after epoch 6, then a fresh model + optimizer restored from disk continue to epoch 14.
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map_with_path

rng = np.random.default_rng(11)
mx.random.seed(11)
N = 3000
diam = rng.uniform(8, 40, N)            # mm
twist = rng.uniform(2, 9, N)            # turns per 10 cm
moist = rng.uniform(4, 22, N)           # %
age = rng.uniform(0, 30, N)             # years
strands = rng.integers(3, 5, N).astype(np.float64)
temp = rng.uniform(-5, 35, N)           # C
load = 0.045 * diam ** 2 * (1 - 0.012 * moist) * (1 - 0.01 * age) * (0.9 + 0.05 * strands) \
    * (1 - 0.004 * (twist - 5.5) ** 2)
noise_sd = 0.6 + 0.02 * diam
y = (load + rng.normal(0, 1, N) * noise_sd).astype(np.float32)
X = np.stack([diam, twist, moist, age, strands, temp], 1).astype(np.float32)
tr, va = np.arange(0, 2400), np.arange(2400, N)
ymu, ysd = y[tr].mean(), y[tr].std()

class Welford:
    def __init__(self, d):
        self.n, self.mean, self.m2 = 0, np.zeros(d), np.zeros(d)
    def update(self, xb):
        for row in xb:
            self.n += 1
            d = row - self.mean
            self.mean += d / self.n
            self.m2 += d * (row - self.mean)
    def std(self):
        return np.sqrt(self.m2 / max(self.n - 1, 1))

class BreakNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mu = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)
    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -5, 3)

def nll(m, x, t):
    mu, lv = m(x)
    return (0.5 * (lv + (t - mu) ** 2 / mx.exp(lv))).mean()

def lr_at(ep):
    return 0.01 * (0.3 ** (ep // 5))

def run(start_ep, end_ep, model, opt, stats, frozen):
    lg = nn.value_and_grad(model, nll)
    for ep in range(start_ep, end_ep):
        opt.learning_rate = lr_at(ep)
        order = rng.permutation(tr)
        tot, nb = 0.0, 0
        for i in range(0, len(order), 100):
            idx = order[i:i + 100]
            if not frozen:
                stats.update(X[idx])
            xb = (X[idx] - stats.mean) / stats.std()
            tb = (y[idx] - ymu) / ysd
            loss, g = lg(model, mx.array(xb.astype(np.float32)), mx.array(tb))
            g, _ = optim.clip_grad_norm(g, 5.0)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        frozen = True
        if (ep + 1) % 3 == 0 or ep + 1 == end_ep:
            xv = mx.array(((X[va] - stats.mean) / stats.std()).astype(np.float32))
            mu, _ = model(xv)
            rmse = float(np.sqrt(np.mean((np.array(mu) * ysd + ymu - y[va]) ** 2)))
            base = float(np.sqrt(np.mean((ymu - y[va]) ** 2)))
            print(f"epoch {ep+1:2d} lr {lr_at(ep):.4f} train-nll {tot/nb:+.3f} "
                  f"val-rmse {rmse:.2f} kN (mean-load baseline {base:.2f} kN)")
    return frozen

stats = Welford(6)
model = BreakNet(); mx.eval(model.parameters())
opt = optim.SGD(learning_rate=lr_at(0), momentum=0.9)
print(f"train {len(tr)} val {len(va)} | load mean {ymu:.1f} kN sd {ysd:.1f} kN")
frozen = run(0, 6, model, opt, stats, frozen=False)

ckdir = tempfile.mkdtemp()
path = os.path.join(ckdir, "bench.npz")
flat = {"w." + k: v for k, v in tree_flatten(model.parameters())}
flat.update({"o." + k: v for k, v in tree_flatten(opt.state) if isinstance(v, mx.array)})
flat["s.mean"] = mx.array(stats.mean); flat["s.m2"] = mx.array(stats.m2); flat["s.n"] = mx.array(stats.n)
mx.savez(path, **flat)
print(f"checkpoint written after epoch 6 ({len(flat)} arrays)")

loaded = mx.load(path)
model2 = BreakNet()
model2.load_weights([(k[2:], v) for k, v in loaded.items() if k.startswith("w.")])
opt2 = optim.SGD(learning_rate=lr_at(6), momentum=0.9)
opt2.init(model2.trainable_parameters())
opt2.state = tree_map_with_path(lambda p, v: loaded.get("o." + p, v), opt2.state)
stats2 = Welford(6)
stats2.mean = np.array(loaded["s.mean"]); stats2.m2 = np.array(loaded["s.m2"]); stats2.n = int(loaded["s.n"].item())
mx.eval(model2.parameters())
print(f"resumed: step {opt2.state['step'].item()}, stats n={stats2.n}")
run(6, 14, model2, opt2, stats2, frozen=True)
