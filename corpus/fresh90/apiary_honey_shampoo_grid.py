"""Honey yield per hive: small MLP trained with a hand-rolled Shampoo optimizer.

Three learning rates are tried one after another, each from the same fresh
initial weights, and the best one is reported.  Output is YAML-ish documents.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten


# ---------------------------------------------------------------- data
def make_apiary(n, rng):
    frames = rng.uniform(3, 12, n)          # frames covered with bees
    forage = rng.uniform(0, 1, n)           # forage area index
    rain = rng.gamma(3.0, 25.0, n)          # spring rain, mm
    temp = rng.normal(17, 3, n)             # mean temp during flow, C
    varroa = rng.exponential(2.0, n)        # mites per 100 bees
    queen = rng.integers(0, 4, n)           # queen age, years
    honey = (2.4 * frames
             + 14 * forage * np.tanh(rain / 60.0)
             - 0.35 * (temp - 19) ** 2
             - 3.0 * np.log1p(varroa)
             - 1.2 * np.maximum(queen - 1, 0)
             + rng.normal(0, 1.5, n))
    X = np.stack([frames, forage, rain, temp, varroa, queen], 1).astype(np.float32)
    return X, honey.astype(np.float32)


rng = np.random.default_rng(2024)
Xtr, ytr = make_apiary(6000, rng)
Xva, yva = make_apiary(1500, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m = mx.array((Xtr - mu) / sd)
Xva_m = mx.array((Xva - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd)
yva_np = (yva - ymu) / ysd


class HoneyNet(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        self.l1 = nn.Linear(6, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


# ---------------------------------------------------------------- Shampoo
class Shampoo:
    """Shampoo with layer-wise Adagrad grafting and heavy-ball momentum.

    2-D leaves keep left/right statistics L = sum G G^T, R = sum G^T G whose
    inverse fourth roots are refreshed every `every` steps (eigh on the CPU).
    1-D leaves use plain diagonal Adagrad.
    """

    def __init__(self, lr, momentum=0.9, eps=1e-4, every=10):
        self.lr, self.momentum, self.eps, self.every = lr, momentum, eps, every
        self.state = {}
        self.count = 0

    def _inv_root(self, M):
        w, v = mx.linalg.eigh(M, stream=mx.cpu)
        w = mx.maximum(w, 0.0) + self.eps
        return (v * mx.power(w, -0.25)) @ v.T

    def init(self, params):
        for k, p in tree_flatten(params):
            s = {"H": mx.zeros_like(p), "m": mx.zeros_like(p)}
            if p.ndim == 2:
                a, b = p.shape
                s["L"] = self.eps * mx.eye(a)
                s["R"] = self.eps * mx.eye(b)
                s["PL"] = mx.eye(a)
                s["PR"] = mx.eye(b)
            self.state[k] = s

    def step(self, model, grads):
        refresh = self.count % self.every == 0
        new = []
        params = dict(tree_flatten(model.trainable_parameters()))
        for k, g in tree_flatten(grads):
            s = self.state[k]
            s["H"] = s["H"] + g * g
            ada = g / (mx.sqrt(s["H"]) + 1e-8)
            if g.ndim == 2:
                s["L"] = s["L"] + g @ g.T
                s["R"] = s["R"] + g.T @ g
                if refresh:
                    s["PL"] = self._inv_root(s["L"])
                    s["PR"] = self._inv_root(s["R"])
                d = s["PL"] @ g @ s["PR"]
                # graft: Shampoo direction, Adagrad step length
                d = d * (mx.linalg.norm(ada) / (mx.linalg.norm(d) + 1e-12))
            else:
                d = ada
            s["m"] = self.momentum * s["m"] + d
            new.append((k, params[k] - self.lr * s["m"]))
        model.update(tree_unflatten(new))
        self.count += 1

    def arrays(self):
        return [v for s in self.state.values() for v in s.values()]


def val_score(model):
    pred = np.array(model(Xva_m))
    return 1.0 - float(np.mean((pred - yva_np) ** 2) / np.var(yva_np))


def run(lr, epochs=10, batch=64):
    mx.random.seed(7)                      # same fresh weights for every config
    model = HoneyNet()
    mx.eval(model.parameters())
    opt = Shampoo(lr=lr)
    opt.init(model.trainable_parameters())
    vg = nn.value_and_grad(model, loss_fn)
    order_rng = np.random.default_rng(11)
    n = Xtr_m.shape[0]

    print("---")
    print(f"config: {{optimizer: shampoo, lr: {lr}, momentum: 0.9, precond_every: 10, batch: {batch}}}")
    print("epochs:")
    print(f"  - {{epoch: 0, train_mse: null, val_score: {val_score(model):.4f}}}")
    t0 = time.perf_counter()
    first = True
    for ep in range(1, epochs + 1):
        perm = order_rng.permutation(n)
        tot, nb = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
            if first:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                print(f"grad_check: {{leaves: {len(leaves)}, zero: {zero}}}")
                first = False
            opt.step(model, grads)
            mx.eval(loss, model.parameters(), opt.arrays())
            tot += loss.item()
            nb += 1
        print(f"  - {{epoch: {ep}, train_mse: {tot / nb:.4f}, val_score: {val_score(model):.4f}, "
              f"secs: {time.perf_counter() - t0:.1f}}}")
    return val_score(model)


print("---")
print("data: {train: %d, val: %d, target: honey_kg_per_hive, target_sd: %.2f}" % (len(ytr), len(yva), ysd))
print("note: val_score is 1 - mse/var on the validation hives")
results = {}
for lr in (0.3, 0.1, 0.03):
    results[lr] = run(lr)
best = max(results, key=results.get)
print("---")
print("summary:")
for lr, sc in results.items():
    print(f"  lr_{lr}: {sc:.4f}")
print(f"best_lr: {best}")
print(f"noise_ceiling: {1 - (1.5 / ysd) ** 2:.4f}")
