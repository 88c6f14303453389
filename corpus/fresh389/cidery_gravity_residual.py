"""Cidery: forecast tomorrow's specific gravity (in gravity points, SG-1 x 1000)
of a fermenting cider batch from its last six daily readings, cellar temperature
and yeast-nutrient dose.  A ridge autoregression is fitted first (closed form);
a small MLP then learns what the ridge fit leaves over."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(389)
LAGS = 6


def make_batches(n_batches):
    X, Y = [], []
    for _ in range(n_batches):
        og = rng.uniform(44, 62)
        fg = rng.uniform(-2, 6)
        temp = rng.uniform(10, 22)
        nutr = rng.uniform(0, 1)
        rate = 0.12 + 0.018 * (temp - 10) + 0.15 * nutr
        mid = rng.uniform(6, 11) - 2.0 * nutr
        days = np.arange(40)
        curve = fg + (og - fg) / (1 + np.exp(rate * (days - mid) * (1.4 if temp > 17 else 1.0)))
        curve = curve - 0.9 * np.exp(-((days - mid - 3) ** 2) / 6) * nutr  # nutrient burst
        obs = curve + rng.normal(0, 0.35, size=curve.shape)
        for t in range(LAGS, 40):
            X.append(np.concatenate([obs[t - LAGS:t], [temp, nutr]]))
            Y.append(obs[t])
    return np.array(X, np.float32), np.array(Y, np.float32)


Xtr, Ytr = make_batches(160)
Xva, Yva = make_batches(40)
print(f"cellar log: {len(Xtr)} train days from 160 batches, {len(Xva)} valid days from 40 batches")

# ---------------------------------------------------------------- references
def rmse(p, y):
    return float(np.sqrt(np.mean((p - y) ** 2)))

ref = {}
ref["mean gravity"] = rmse(np.full_like(Yva, Ytr.mean()), Yva)
ref["persistence"] = rmse(Xva[:, LAGS - 1], Yva)
ref["trend (2-pt)"] = rmse(2 * Xva[:, LAGS - 1] - Xva[:, LAGS - 2], Yva)

mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = Ytr.mean(), Ytr.std()
Ztr = mx.array((Xtr - mu) / sd)
Zva = mx.array((Xva - mu) / sd)
ttr = mx.array((Ytr - ymu) / ysd)
tva = mx.array((Yva - ymu) / ysd)

# stage 1: ridge autoregression in closed form
A = mx.concatenate([Ztr, mx.ones((Ztr.shape[0], 1))], axis=1)
lam = 1e-2
w_ridge = mx.linalg.solve(A.T @ A + lam * mx.eye(A.shape[1]), A.T @ ttr[:, None], stream=mx.cpu)
Ava = mx.concatenate([Zva, mx.ones((Zva.shape[0], 1))], axis=1)
lin_tr = (A @ w_ridge)[:, 0]
lin_va = (Ava @ w_ridge)[:, 0]
ref["ridge AR(6)"] = rmse(np.array(lin_va) * ysd + ymu, Yva)
print("== stage 1: ridge autoregression (closed form) ==")
print(f"   ridge residual mse (train, z units) {float(mx.mean((ttr - lin_tr) ** 2)):.5f}")

# stage 2: MLP on what the ridge leaves over
class Leftover(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.l1 = nn.Linear(d, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)[:, 0]


mx.random.seed(7)
model = Leftover(Ztr.shape[1])
resid_tr = ttr - lin_tr
EPOCHS, BS = 14, 64
steps_per = Ztr.shape[0] // BS
total = EPOCHS * steps_per
warm = 2 * steps_per
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-5)], [warm])
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, r):
    return mx.mean((m(x) - r) ** 2)


step = nn.value_and_grad(model, loss_fn)
print("== stage 2: MLP on ridge leftovers ==")
row = "{ep:>5} {lr:>9} {tl:>12} {model:>9} {ridge:>9} {pers:>9} {gain:>8}"
print(row.format(ep="epoch", lr="lr", tl="leftover_mse", model="model", ridge="ridge", pers="persist", gain="vs_ridge"))
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Ztr.shape[0])[: steps_per * BS].reshape(steps_per, BS))
    run = 0.0
    for i in range(steps_per):
        idx = perm[i]
        lr_used = float(opt.learning_rate)
        loss, g = step(model, Ztr[idx], resid_tr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += float(loss)
    pred = (lin_va + model(Zva)) * ysd + ymu
    r_model = rmse(np.array(pred), Yva)
    gain = 100.0 * (1 - r_model / ref["ridge AR(6)"])
    print(row.format(ep=ep, lr=f"{lr_used:.2e}", tl=f"{run / steps_per:.5f}", model=f"{r_model:.3f}",
                     ridge=f"{ref['ridge AR(6)']:.3f}", pers=f"{ref['persistence']:.3f}", gain=f"{gain:+.1f}%"))

ref["ridge + MLP"] = r_model
print(f"stage 2 took {time.time() - t0:.1f}s")
print("== valid RMSE in gravity points, best first ==")
for k, v in sorted(ref.items(), key=lambda kv: kv[1]):
    print(f"   {k:<14} {v:7.3f}")
print(f"   noise floor    {0.35:7.3f}")
