# Ropewalk: breaking strength (kN) of hemp rope from twist, yarn count, tar %, hemp grade, lay length.
# Two models trained in turn from scratch: a linear baseline, then a small residual MLP.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)

def make(n):
    twist = rng.uniform(2.0, 6.0, n)
    yarns = rng.integers(12, 60, n).astype(np.float64)
    tar = rng.uniform(0.0, 18.0, n)
    grade = rng.uniform(0.5, 1.0, n)
    lay = rng.uniform(0.8, 2.0, n)
    s = 0.9 * yarns * grade * np.exp(-0.04 * (twist - 3.6) ** 2 * yarns / 20) * (1 - 0.012 * tar) / np.sqrt(lay)
    s = s + rng.normal(0, 0.6, n)
    X = np.stack([twist, yarns, tar, grade, lay], 1)
    return X.astype(np.float32), s.astype(np.float32)

Xtr, ytr = make(8000)
Xte, yte = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_m = mx.array((Xtr - mu) / sd); Xte_m = mx.array((Xte - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd); yte_np = yte


class Linear1(nn.Module):
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(5, 1)

    def __call__(self, x):
        return self.out(x).squeeze(-1)


class ResMLP(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.inp = nn.Linear(5, h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def r2_percent(model):
    pred = np.array(model(Xte_m)) * ysd + ymu
    ss_res = float(((pred - yte_np) ** 2).sum())
    ss_tot = float(((yte_np - yte_np.mean()) ** 2).sum())
    return 100.0 * (1 - ss_res / ss_tot), float(np.sqrt(((pred - yte_np) ** 2).mean()))


def fit(name, model, opt, epochs, bs=64):
    vg = nn.value_and_grad(model, loss_fn)
    n = Xtr_m.shape[0]
    t0 = time.time()
    r2, rmse = r2_percent(model)
    print(f"{name:>8s} {0:4d} {'':>11s} {rmse:11.4E} {r2:8.2f} {time.time()-t0:7.2f}")
    first = True
    for ep in range(1, epochs + 1):
        perm = np.random.default_rng(ep + 100 * len(name)).permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
            if first:
                leaves = [(k, float(mx.abs(v).max())) for k, v in nn.utils.tree_flatten(g)]
                zero = [k for k, m in leaves if m == 0.0]
                print(f"#  {name}: first-step gradient leaves {len(leaves)}, all-zero {zero}")
                first = False
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1
        r2, rmse = r2_percent(model)
        print(f"{name:>8s} {ep:4d} {tot/cnt:11.4E} {rmse:11.4E} {r2:8.2f} {time.time()-t0:7.2f}")
    return r2, rmse


print(f"#  ropewalk: {len(ytr)} train / {len(yte)} test ropes, strength mean {ymu:.2f} kN, sd {ysd:.2f} kN, noise sd 0.60 kN")
print(f"#  columns: model, epoch, train mse (std units), test RMSE (kN), test R2 (percent of variance explained), secs")
print(f"{'model':>8s} {'ep':>4s} {'train_mse':>11s} {'test_rmse':>11s} {'R2_pct':>8s} {'secs':>7s}")
mx.random.seed(1)
lin = Linear1()
res_lin = fit("linear", lin, optim.SGD(learning_rate=0.05), 4)
mx.random.seed(2)
mlp = ResMLP()
res_mlp = fit("resmlp", mlp, optim.Adam(learning_rate=2e-3), 10)
print(f"#  summary: linear R2 {res_lin[0]:.2f}% RMSE {res_lin[1]:.3f} kN | resmlp R2 {res_mlp[0]:.2f}% RMSE {res_mlp[1]:.3f} kN")
