# Remaining useful life (hours) of chairlift bullwheel bearings from vibration summary features.
# SGDR (cosine warm restarts), compiled train step, fixed-width table with a mean-predictor baseline.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(7)
N_TR, N_VA, D = 6000, 1200, 10
FEATS = ["rms_g", "kurtosis", "crest", "bpfo_amp", "bpfi_amp", "temp_c",
         "rope_tension_kn", "rpm", "grease_days", "ambient_c"]


def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    wear = 0.9 * x[:, 3] + 0.7 * x[:, 4] + 0.4 * np.tanh(x[:, 1] * x[:, 2]) + 0.3 * x[:, 8]
    heat = 0.5 * np.maximum(x[:, 5] - 0.2 * x[:, 9], 0.0)
    load = 0.25 * x[:, 6] * (1.0 + 0.3 * x[:, 7])
    rul = 1800.0 * np.exp(-0.45 * wear - 0.3 * heat - load * 0.2) + rng.normal(0, 60.0, n)
    return x, np.clip(rul, 20.0, None).astype(np.float32)


xtr, ytr = make(N_TR)
xva, yva = make(N_VA)
mu, sd = float(ytr.mean()), float(ytr.std())
Xtr, Ytr = mx.array(xtr), mx.array((ytr - mu) / sd)
Xva, Yva = mx.array(xva), mx.array(yva)
baseline_mae = float(np.abs(yva - mu).mean())


class RULNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = RULNet()
CYCLE, N_CYCLES, BS = 150, 4, 128
cycle_sched = optim.cosine_decay(3e-3, CYCLE, end=1e-5)
sched = optim.join_schedules([cycle_sched] * N_CYCLES, [CYCLE * k for k in range(1, N_CYCLES)])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss


def val_mae():
    pred = model(Xva) * sd + mu
    return float(mx.mean(mx.abs(pred - Yva)))


# gradient audit before training
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], Ytr[:256])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"grad audit: {len(tree_flatten(g0))} tensors, zero-grad tensors: {zero if zero else 'none'}")

t0 = time.time()
hdr = f"{'cyc':>3} {'it':>4} {'lr':>9} {'huber':>8} {'val MAE h':>10} {'mean-pred MAE h':>16}"
print(hdr)
print("-" * len(hdr))
best = float("inf")
for cyc in range(N_CYCLES):
    for it in range(CYCLE):
        idx = mx.array(rng.integers(0, N_TR, BS))
        loss = step(Xtr[idx], Ytr[idx])
        mx.eval(loss, model.state, opt.state)
        if it in (0, 1, 10, 50, 100, CYCLE - 1):
            lr = float(sched(opt.step - 1))
            mae = val_mae()
            best = min(best, mae)
            print(f"{cyc:>3} {it:>4} {lr:9.2e} {float(loss):8.4f} {mae:10.1f} {baseline_mae:16.1f}")
    print("-" * len(hdr))

print(f"done in {time.time() - t0:.1f}s | best val MAE {best:.1f} h vs {baseline_mae:.1f} h "
      f"({100 * (1 - best / baseline_mae):.1f}% below baseline)")
