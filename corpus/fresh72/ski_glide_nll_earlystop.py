# Ski wax glide test: predict the run time (s) of a glide-test ski down a fixed 60 m track
# from snow/wax conditions, with a heteroscedastic Gaussian head (mean + log-variance).
# Loss = Gaussian NLL per run (can go below 0 once sigma < 1/sqrt(2*pi*e) of target units).
# Early stopping on validation NLL with patience; the best weights are restored at the end.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

np.random.seed(11)
WAXES = ["hydrocarbon_cold", "hydrocarbon_warm", "fluoro_free_hi", "klister"]

def glide_runs(n):
    t_snow = np.random.uniform(-18, 0, n)
    rh = np.random.uniform(30, 100, n)
    age = np.random.uniform(0, 10, n)            # days since snowfall
    wax = np.random.randint(0, 4, n)
    best_t = np.array([-12.0, -3.0, -6.0, -1.0])[wax]
    mismatch = (t_snow - best_t) / 6.0
    wet = np.clip((t_snow + 3) / 3, 0, 1) * rh / 100
    base = 9.0 + 0.9 * mismatch ** 2 + 0.6 * wet - 0.08 * age + 0.04 * (t_snow < -14) * -t_snow
    sigma = 0.05 + 0.25 * wet + 0.02 * age       # wet, old snow = noisier runs
    y = base + sigma * np.random.randn(n)
    X = np.column_stack([t_snow / 10, rh / 100, age / 10, np.eye(4)[wax]]).astype(np.float32)
    return X, y.astype(np.float32)

Xtr, ytr = glide_runs(9000)
Xva, yva = glide_runs(2000)
Xte, yte = glide_runs(2000)
y_mu = float(ytr.mean())
Xtr, Xva, Xte = map(mx.array, (Xtr, Xva, Xte))
ytr, yva, yte = (mx.array(a - y_mu) for a in (ytr, yva, yte))

class GlideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 96), nn.Tanh(), nn.Linear(96, 96), nn.Tanh())
        self.mean = nn.Linear(96, 1)
        self.logvar = nn.Linear(96, 1)
    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -10, 5)

def nll(model, x, y):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))

def evaluate(model, x, y):
    m, lv = model(x)
    l = mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))
    rmse = mx.sqrt(mx.mean((y - m) ** 2))
    cover = mx.mean((mx.abs(y - m) < 1.645 * mx.exp(0.5 * lv)).astype(mx.float32))
    return l.item(), rmse.item(), cover.item()

mx.random.seed(3)
model = GlideNet()
opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(model, nll)

_, g0 = step(model, Xtr[:128], ytr[:128])
flat = tree_flatten(g0)
print(f"runs: train {Xtr.shape[0]}  valid {Xva.shape[0]}  test {Xte.shape[0]}")
print(f"gradient leaves non-zero at step 0: {sum(mx.any(v != 0).item() for _, v in flat)} of {len(flat)}")
v0 = evaluate(model, Xva, yva)
print(f"untrained: valid nll {v0[0]:.3f}  rmse {v0[1]:.3f}s  90%-band coverage {100*v0[2]:.1f}%")
print()
print(f"{'epoch':>5} {'train_nll':>10} {'valid_nll':>10} {'valid_rmse_s':>12} {'cover90_%':>9} {'wait':>4}")

best, best_ep, wait, patience = float("inf"), 0, 0, 6
best_params = None
bs = 64
t0 = time.time()
for ep in range(1, 81):
    perm = mx.array(np.random.permutation(Xtr.shape[0]))
    acc, nb = 0.0, 0
    for s in range(0, Xtr.shape[0], bs):
        idx = perm[s:s + bs]
        loss, g = step(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item(); nb += 1
    vl, vr, vc = evaluate(model, Xva, yva)
    if vl < best - 1e-4:
        best, best_ep, wait = vl, ep, 0
        best_params = tree_map(lambda a: mx.array(a), model.parameters())
        mx.eval(best_params)
        mark = " *"
    else:
        wait += 1
        mark = ""
    print(f"{ep:5d} {acc/nb:10.4f} {vl:10.4f} {vr:12.4f} {100*vc:9.1f} {wait:4d}{mark}")
    if wait >= patience:
        print(f"early stop at epoch {ep}: no valid-nll gain for {patience} epochs")
        break

last = evaluate(model, Xte, yte)
model.update(best_params)
te = evaluate(model, Xte, yte)
print()
print(f"restored weights of epoch {best_ep} (valid nll {best:.4f})")
print(f"test nll   last {last[0]:.4f}  restored {te[0]:.4f}")
print(f"test rmse  {te[1]:.4f}s   90%-band coverage {100*te[2]:.1f}%   elapsed {time.time()-t0:.1f}s")
