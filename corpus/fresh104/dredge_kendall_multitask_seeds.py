"""River dredging survey: sediment volume (regression) + permit exceedance (binary),
one shared trunk, Kendall-style learned uncertainty weights; three seeds in turn."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def make_data(n, rng):
    X = rng.normal(size=(n, 6)).astype(np.float32)   # flow, depth, grain, bend, weir, season
    vol = 3.0 * X[:, 0] + 1.5 * np.tanh(X[:, 1] * X[:, 2]) - X[:, 3] ** 2 + 0.8 * X[:, 4]
    vol = vol + 0.3 * rng.normal(size=n)
    logit = 2.0 * X[:, 0] - 1.5 * X[:, 5] + X[:, 2] * X[:, 4]
    exceed = (logit + rng.logistic(size=n) * 0.7 > 0.5).astype(np.float32)
    return X, vol.astype(np.float32), exceed


class DredgeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.vol_head = nn.Linear(64, 1)
        self.cls_head = nn.Linear(64, 1)
        self.log_var = mx.zeros((2,))     # learned task uncertainties (s_reg, s_cls)

    def __call__(self, x):
        h = self.trunk(x)
        return self.vol_head(h).squeeze(-1), self.cls_head(h).squeeze(-1)


def objective(model, x, v, e):
    pv, pe = model(x)
    mse = mx.mean((pv - v) ** 2)
    bce = nn.losses.binary_cross_entropy(pe, e, with_logits=True, reduction="mean")
    s = model.log_var
    total = 0.5 * mx.exp(-s[0]) * mse + 0.5 * s[0] + mx.exp(-s[1]) * bce + 0.5 * s[1]
    return total, (mse, bce)


def run_seed(seed, Xtr, vtr, etr, Xva, vva, eva, epochs=12, bs=128):
    mx.random.seed(seed)
    model = DredgeNet()
    opt = optim.Adagrad(learning_rate=0.05)
    vg = nn.value_and_grad(model, objective)

    # first-step gradient audit
    (_, _), g = vg(model, Xtr[:bs], vtr[:bs], etr[:bs])
    leaves = tree_flatten(g)
    zero = [k for k, a in leaves if float(mx.abs(a).max()) == 0.0]
    print(f"  seed {seed}: {len(leaves)} gradient leaves, zero: {zero or 'none'}")

    state = [model.state, opt.state]

    from functools import partial

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, v, e):
        (tot, (mse, bce)), grads = vg(model, x, v, e)
        opt.update(model, grads)
        return tot, mse, bce

    rng = np.random.default_rng(seed)
    n = Xtr.shape[0]
    rows = []
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot_sum, nb = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            tot, mse, bce = step(Xtr[idx], vtr[idx], etr[idx])
            mx.eval(tot, state)
            tot_sum += tot.item()
            nb += 1
        pv, pe = model(Xva)
        rmse = mx.sqrt(mx.mean((pv - vva) ** 2)).item()
        acc = mx.mean((pe > 0) == (eva > 0.5)).item() * 100
        s = np.array(model.log_var)
        if ep in (1, 2, 3, 6, 9, 12):
            print(f"  seed {seed} | ep {ep:02d} | objective {tot_sum / nb:+.3f} | "
                  f"s_reg {s[0]:+.2f} s_cls {s[1]:+.2f} | val rmse {rmse:.3f} m3 | val acc {acc:.1f}%")
        rows.append((rmse, acc))
    return rows[-1]


def main():
    rng = np.random.default_rng(0)
    X, v, e = make_data(8000, rng)
    Xv, vv, ev = make_data(2000, rng)
    mu, sd = X.mean(0), X.std(0)
    X, Xv = (X - mu) / sd, (Xv - mu) / sd
    Xtr, vtr, etr = mx.array(X), mx.array(v), mx.array(e)
    Xva, vva, eva = mx.array(Xv), mx.array(vv), mx.array(ev)
    print(f"dredge survey: {len(X)} train / {len(Xv)} val reaches, exceedance rate {e.mean() * 100:.1f}%")
    print(f"baseline: predict-mean rmse {np.sqrt(((vv - v.mean()) ** 2).mean()):.3f} m3, "
          f"majority acc {max(ev.mean(), 1 - ev.mean()) * 100:.1f}%")
    t0 = time.time()
    finals = []
    for seed in (11, 22, 33):
        print(f"-- seed {seed} (fresh weights) --")
        finals.append(run_seed(seed, Xtr, vtr, etr, Xva, vva, eva))
    r = np.array(finals)
    print(f"summary over {len(finals)} seeds: val rmse {r[:, 0].mean():.3f} +/- {r[:, 0].std():.3f} m3, "
          f"val acc {r[:, 1].mean():.1f} +/- {r[:, 1].std():.1f}%  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
