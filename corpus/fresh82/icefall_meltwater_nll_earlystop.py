"""Meltwater discharge (log m3/s) with a heteroscedastic Gaussian head; early stopping restores the best weights."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)


def make(n):
    temp = rng.normal(4, 4, n)
    sun = rng.uniform(0, 1, n)
    snow = rng.exponential(1, n)
    debris = rng.uniform(0, 1, n)
    day = rng.uniform(0, 1, n)
    mean = 0.25 * np.maximum(temp, 0) + 1.2 * sun * (1 - 0.6 * debris) - 0.4 * np.log1p(snow) + 0.5 * np.sin(2 * np.pi * day)
    sig = 0.05 + 0.12 * np.maximum(temp, 0) / 4
    y = mean + sig * rng.normal(size=n)
    x = np.stack([temp, sun, snow, debris, np.sin(2 * np.pi * day), np.cos(2 * np.pi * day)], 1)
    return x.astype(np.float32), y.astype(np.float32)[:, None], sig


xtr, ytr, _ = make(600)
xva, yva, _ = make(1500)
xte, yte, sig_te = make(3000)
m_, s_ = xtr.mean(0), xtr.std(0)
Xtr, Xva, Xte = (mx.array((a - m_) / s_) for a in (xtr, xva, xte))
Ytr, Yva, Yte = mx.array(ytr), mx.array(yva), mx.array(yte)
oracle_nll = float(np.mean(np.log(sig_te) + 0.5 * math.log(2 * math.pi) + 0.5))


class GaussHead(nn.Module):
    def __init__(self, d=6, h=128):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.mu = nn.Linear(h, 1)
        self.logsig = nn.Linear(h, 1)

    def __call__(self, x):
        z = nn.tanh(self.l1(x))
        z = nn.tanh(self.l2(z))
        return self.mu(z), mx.clip(self.logsig(z), -6.0, 3.0)


def nll(model, x, y):
    mu, ls = model(x)
    return mx.mean(ls + 0.5 * math.log(2 * math.pi) + 0.5 * mx.square((y - mu) * mx.exp(-ls)))


class Momentum:
    def __init__(self, lr, beta):
        self.lr, self.beta, self.v = lr, beta, None

    def step(self, params, grads):
        if self.v is None:
            self.v = tree_map(mx.zeros_like, grads)
        self.v = tree_map(lambda v, g: self.beta * v + g, self.v, grads)
        return tree_map(lambda p, v: p - self.lr * v, params, self.v)


mx.random.seed(3)
model = GaussHead()
vg = nn.value_and_grad(model, nll)
opt = Momentum(lr=0.01, beta=0.9)
patience, bad, best, best_params, best_epoch = 30, 0, float("inf"), None, 0

row = "{:>6} {:>12} {:>12} {:>10} {:>8}"
print(f"meltwater: train {len(ytr)} / valid {len(yva)} / test {len(yte)} days; oracle test NLL {oracle_nll:.3f} nats (negative = good)")
print(row.format("epoch", "train_nll", "valid_nll", "best?", "secs"))
print(row.format(0, "-", f"{float(nll(model, Xva, Yva)):.4f}", "", "0.0"))
t0 = time.time()
for epoch in range(1, 401):
    perm = rng.permutation(len(ytr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm), 50):
        idx = mx.array(perm[i:i + 50])
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        if epoch == 1 and i == 0:
            fl = tree_flatten(g)
            print(f"# first-step grads: {len(fl)} leaves, zero: {[k for k, v in fl if float(mx.abs(v).max()) == 0.0]}")
        model.update(opt.step(model.trainable_parameters(), g))
        mx.eval(model.parameters(), opt.v, loss)
        tot += float(loss); nb += 1
    va = float(nll(model, Xva, Yva))
    mark = ""
    if va < best - 1e-4:
        best, best_epoch, bad, mark = va, epoch, 0, "*"
        best_params = tree_map(lambda p: mx.array(p), model.parameters())
        mx.eval(best_params)
    else:
        bad += 1
    if epoch <= 3 or epoch % 20 == 0 or bad >= patience:
        print(row.format(epoch, f"{tot / nb:.4f}", f"{va:.4f}", mark, f"{time.time() - t0:.1f}"))
    if bad >= patience:
        print(f"early stop at epoch {epoch}: no valid improvement for {patience} epochs (best epoch {best_epoch})")
        break
last_va = float(nll(model, Xva, Yva))
model.update(best_params)
print(f"restored best weights: valid NLL {last_va:.4f} -> {float(nll(model, Xva, Yva)):.4f}")
mu, ls = model(Xte)
cover = float(mx.mean((mx.abs(Yte - mu) <= 1.645 * mx.exp(ls)).astype(mx.float32))) * 100
print(f"done: test NLL {float(nll(model, Xte, Yte)):.4f} nats (oracle {oracle_nll:.3f}), 90% interval coverage {cover:.1f}%")
