# Handpan tuning bench: predict how many cents a hammered note field's fundamental sits off
# its target after nitriding, so the tuner knows whether to tighten or relax the dimple.
import json, math, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N = 3000
# features: log note-field area, dimple shape index, dimple height ratio, nitriding temp
# (offset, 55-90), shoulder groove depth (mm), hammer passes, steel (0 nitrided / 1 stainless), workshop temp (C)
X = np.stack([
    rng.uniform(-1.5, 1.5, N), rng.normal(0, 1, N), rng.uniform(0.2, 0.4, N),
    rng.uniform(55, 90, N), rng.normal(0, 0.6, N), rng.uniform(4, 14, N),
    rng.integers(0, 2, N).astype(np.float64), rng.uniform(12, 24, N)], 1)
cents = (14 * (X[:, 3] - 70) / 20 - 9 * (X[:, 2] - 0.3) / 0.1 + 6 * np.tanh(X[:, 4] * 1.5)
         + 3 * X[:, 1] * X[:, 0] + 0.9 * (X[:, 7] - 18) + 2.5 * X[:, 6]
         + 4 * np.sin(X[:, 5] / 2.0) + rng.normal(0, 1.2, N))
mu, sd = X.mean(0), X.std(0)
Xn = ((X - mu) / sd).astype(np.float32)
y = cents.astype(np.float32)[:, None]
tr, va = slice(0, 2600), slice(2600, N)
Xtr, ytr, Xva, yva = mx.array(Xn[tr]), mx.array(y[tr]), mx.array(Xn[va]), mx.array(y[va])
base_mae = float(np.abs(y[va] - y[tr].mean()).mean())

class DimpleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)
    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))

mx.random.seed(3)
model = DimpleNet()
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)

def loss_fn(m, xb, yb):
    r = m(xb) - yb
    return (r * r).mean(), mx.abs(r).mean()

vg = nn.value_and_grad(model, lambda m, a, b: loss_fn(m, a, b)[0])
state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    l, g = vg(model, xb, yb)
    opt.update(model, g)
    return l

# warm restarts: cycle lengths 30, 60, 120 epochs, lr 0 -> peak (5-epoch ramp) -> cosine to 0
cycles, peak = [30, 60, 120], 0.02
bs, nb = 100, 26
ep_total, t0 = 0, time.time()
print(json.dumps({"event": "start", "n_train": 2600, "n_val": 400, "baseline_mae_cents": round(base_mae, 2)}))
for c, L in enumerate(cycles):
    for e in range(L):
        frac = e / L
        lr = peak * min(1.0, e / 5) * 0.5 * (1 + math.cos(math.pi * frac))
        opt.learning_rate = mx.array(lr)
        perm = mx.array(rng.permutation(2600))
        tot = 0.0
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            l = step(Xtr[idx], ytr[idx])
            mx.eval(l, model.parameters(), opt.state)
            tot += l.item()
        ep_total += 1
        if e % 15 == 0 or e == L - 1:
            vmse, vmae = loss_fn(model, Xva, yva)
            print(json.dumps({"cycle": c + 1, "ep": e, "lr": round(lr, 5),
                              "train_mse": round(tot / nb, 3), "val_mse": round(vmse.item(), 3),
                              "val_mae_cents": round(vmae.item(), 3), "ref_mae_cents": round(base_mae, 2)}))
vmse, vmae = loss_fn(model, Xva, yva)
print(json.dumps({"event": "done", "epochs": ep_total, "val_mae_cents": round(vmae.item(), 3),
                  "vs_baseline_pct": round(100 * vmae.item() / base_mae, 1), "sec": round(time.time() - t0, 1)}))
