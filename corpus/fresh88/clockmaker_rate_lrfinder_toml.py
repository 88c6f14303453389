"""Pendulum clock regulation: predict the daily rate error (seconds/day) of a
longcase clock from workshop measurements.  First a learning-rate range test
(exponential sweep, stopped once the loss runs away), then a real run from fresh
weights at a tenth of the LR where the smoothed loss bottomed out.  Reports are printed as TOML tables."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)

def make_clocks(n):
    dlen = rng.normal(0, 1, n)          # pendulum length deviation (mm, standardised)
    temp = rng.normal(0, 1, n)          # room temperature
    amp = rng.normal(0, 1, n)           # swing amplitude
    oil = rng.uniform(0, 1, n)          # years since oiling
    brass = rng.integers(0, 2, n)       # brass vs steel rod
    rate = (-21.6 * dlen + (4.0 + 6.0 * brass) * temp + 3.0 * amp ** 2
            + 5.0 * np.sin(2.5 * oil) * amp + rng.normal(0, 1.5, n))
    X = np.stack([dlen, temp, amp, oil, brass], 1).astype(np.float32)
    return X, rate.astype(np.float32)

Xtr, ytr = make_clocks(8000)
Xte, yte = make_clocks(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
ymu, ysd = ytr.mean(), ytr.std()
ttr = (ytr - ymu) / ysd
Xtr_m, ttr_m, Xte_m = mx.array(Xtr), mx.array(ttr), mx.array(Xte)


class Regulator(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.inp = nn.Linear(5, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, t):
    return nn.losses.mse_loss(model(x), t)


def test_mae(model):
    pred = model(Xte_m) * ysd + ymu
    return float(mx.mean(mx.abs(pred - mx.array(yte))))


def toml_table(name, **kv):
    print(f"[{name}]")
    for k, v in kv.items():
        if isinstance(v, str):
            print(f'{k} = "{v}"')
        elif isinstance(v, float):
            print(f"{k} = {v:.6g}")
        elif isinstance(v, list):
            print(f"{k} = [" + ", ".join(f'"{s}"' for s in v) + "]")
        else:
            print(f"{k} = {v}")
    print()


def batches(n, bs, seed):
    r = np.random.default_rng(seed)
    while True:
        perm = r.permutation(n)
        for i in range(0, n - bs + 1, bs):
            yield mx.array(perm[i:i + bs])


toml_table("data", train_rows=len(ytr), test_rows=len(yte),
           predict_mean_mae_s_per_day=float(np.mean(np.abs(yte - ymu))),
           noise_mae_s_per_day=1.5 * math.sqrt(2 / math.pi))

# ---------------- LR range test (Smith) ----------------
mx.random.seed(0)
probe = Regulator()
mx.eval(probe.parameters())
opt = optim.SGD(learning_rate=1e-5, momentum=0.9)
vg = nn.value_and_grad(probe, loss_fn)
lr_lo, lr_hi, n_sweep = 1e-5, 10.0, 200
it = batches(len(ttr), 64, 1)
best, smooth, hist = float("inf"), 0.0, []
t0 = time.time()
for k in range(n_sweep):
    lr = lr_lo * (lr_hi / lr_lo) ** (k / (n_sweep - 1))
    opt.learning_rate = lr
    idx = next(it)
    loss, g = vg(probe, Xtr_m[idx], ttr_m[idx])
    opt.update(probe, g)
    mx.eval(probe.parameters(), opt.state, loss)
    lv = loss.item()
    smooth = 0.9 * smooth + 0.1 * lv if k else lv
    hist.append((lr, smooth))
    best = min(best, smooth)
    if not math.isfinite(lv) or smooth > 4 * best:
        break
lrs = np.array([h[0] for h in hist]); ls = np.array([h[1] for h in hist])
lr_at_min = float(lrs[int(np.argmin(ls))])
toml_table("lr_range_test", steps_run=len(hist), stopped_at_lr=float(lrs[-1]),
           smoothed_loss_min=float(best), smoothed_loss_last=float(ls[-1]),
           lr_at_min_loss=lr_at_min, secs=round(time.time() - t0, 2))
del probe, opt

# ---------------- real run, fresh weights ----------------
lr_max = min(lr_at_min / 10, 0.1)   # fastai rule of thumb: a tenth of the minimum
mx.random.seed(1)
model = Regulator()
mx.eval(model.parameters())
steps = 2500
sched = optim.cosine_decay(lr_max, steps, lr_max * 0.01)
opt = optim.SGD(learning_rate=sched, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

idx0 = mx.arange(256)
_, g0 = vg(model, Xtr_m[idx0], ttr_m[idx0])
from mlx.utils import tree_flatten
leaves = tree_flatten(g0)
zero = [p for p, a in leaves if float(mx.abs(a).max()) == 0.0]
toml_table("grad_check", leaves=len(leaves), zero=zero)
toml_table("train.step_0", lr_max=float(lr_max), test_mae_s_per_day=test_mae(model))

it = batches(len(ttr), 64, 2)
win = []
t0 = time.time()
for step in range(1, steps + 1):
    idx = next(it)
    loss, g = vg(model, Xtr_m[idx], ttr_m[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    win.append(loss.item())
    if step % 500 == 0:
        toml_table(f"train.step_{step}", lr=float(sched(step)),
                   train_mse_std_units=float(np.mean(win)),
                   test_mae_s_per_day=test_mae(model), secs=round(time.time() - t0, 2))
        win = []
toml_table("done", final_test_mae_s_per_day=test_mae(model))
