"""Toll bridge crossing time: an LR range test first, then the real run from fresh weights."""
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N, NT = 12000, 2000
hour = rng.uniform(0, 24, N + NT)
lanes = rng.integers(1, 5, N + NT).astype(np.float32)
trucks = rng.uniform(0, 0.4, N + NT)
rain = rng.exponential(1.0, N + NT)
event = (rng.random(N + NT) < 0.08).astype(np.float32)
rush = np.exp(-((hour - 8) ** 2) / 3) + np.exp(-((hour - 17.5) ** 2) / 4)
minutes = 3 + 9 * rush / lanes + 6 * trucks + 0.8 * np.log1p(rain) + 4 * event + rng.normal(0, 0.5, N + NT)
X = np.stack([np.sin(hour / 24 * 2 * np.pi), np.cos(hour / 24 * 2 * np.pi), lanes, trucks, np.log1p(rain), event], 1)
X = ((X - X[:N].mean(0)) / X[:N].std(0)).astype(np.float32)
mu, sd = minutes[:N].mean(), minutes[:N].std()
Y = ((minutes - mu) / sd).astype(np.float32)[:, None]
Xtr, Ytr, Xte, Yte = mx.array(X[:N]), mx.array(Y[:N]), mx.array(X[N:]), mx.array(Y[N:])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 64)
        self.b = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.relu(self.a(x))
        h = h + nn.relu(self.b(h))
        return self.out(h)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


def emit(**kw):
    print(json.dumps(kw, separators=(",", ":")), flush=True)


def batches(bs, seed):
    r = np.random.default_rng(seed)
    while True:
        p = r.permutation(N)
        for i in range(0, N - bs + 1, bs):
            yield mx.array(p[i:i + bs])


def test_rmse_min(m):
    return float(mx.sqrt(loss_fn(m, Xte, Yte))) * sd


emit(event="data", train=N, test=NT, target_sd_min=round(float(sd), 3), noise_floor_min=0.5)

# --- phase 1: learning-rate range test (loss is expected to blow up at the end) ---
mx.random.seed(1)
probe = Net()
opt = optim.SGD(learning_rate=1e-4, momentum=0.9)
vg = nn.value_and_grad(probe, loss_fn)
lrs = np.geomspace(1e-4, 3.0, 120)
it = batches(128, 1)
best_lr, best_smooth, smooth, sweep = None, float("inf"), None, []
for k, lr in enumerate(lrs):
    opt.learning_rate = float(lr)
    idx = next(it)
    loss, g = vg(probe, Xtr[idx], Ytr[idx])
    opt.update(probe, g)
    mx.eval(probe.parameters(), opt.state, loss)
    l = float(loss)
    smooth = l if smooth is None else 0.8 * smooth + 0.2 * l
    sweep.append((float(lr), smooth))
    if smooth < best_smooth:
        best_smooth, best_lr = smooth, float(lr)
    if k % 20 == 0 or not math.isfinite(l) or smooth > 4 * best_smooth:
        emit(event="lr_sweep", k=k, lr=float(f"{lr:.3g}"), smoothed_mse_std=round(smooth, 4) if math.isfinite(smooth) else str(smooth))
    if not math.isfinite(l) or smooth > 4 * best_smooth:
        emit(event="lr_sweep_stop", k=k, reason="loss blew up (expected at the top of the sweep)")
        break
chosen = best_lr / 10
emit(event="lr_chosen", best_lr=float(f"{best_lr:.3g}"), chosen=float(f"{chosen:.3g}"))
del probe, opt

# --- phase 2: the real run, fresh weights, fresh optimizer ---
mx.random.seed(2)
model = Net()
opt = optim.Adam(learning_rate=optim.cosine_decay(chosen, 2000, chosen / 50))
vg = nn.value_and_grad(model, loss_fn)
emit(event="untrained", test_rmse_min=round(test_rmse_min(model), 3), predict_mean_rmse_min=round(float(sd), 3))
it = batches(128, 2)
t0, win = time.time(), []
for step in range(1, 2001):
    idx = next(it)
    loss, g = vg(model, Xtr[idx], Ytr[idx])
    if step == 1:
        from mlx.utils import tree_flatten
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
        emit(event="grad_check", leaves=len(leaves), zero_leaves=zero)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    win.append(float(loss))
    if step in (1, 50) or step % 250 == 0:
        emit(event="train", step=step, lr=float(f"{float(opt.learning_rate):.3g}"),
             train_mse_std=round(sum(win) / len(win), 4), test_rmse_min=round(test_rmse_min(model), 3),
             secs=round(time.time() - t0, 1))
        win = []
emit(event="done", test_rmse_min=round(test_rmse_min(model), 3), noise_floor_min=0.5)
