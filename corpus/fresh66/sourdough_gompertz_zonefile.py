"""Sourdough proofing model: a small net maps bake conditions to the
parameters of a Gompertz rise curve; trained on noisy jar-height logs.
Output is written as a BIND zone file so it can be diffed between runs."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
T = np.linspace(0.0, 12.0, 25).astype(np.float32)          # hours, every 30 min


def make_jars(n):
    starter = rng.uniform(0.05, 0.40, n)      # starter fraction
    hydr = rng.uniform(0.60, 0.90, n)         # hydration
    temp = rng.uniform(18.0, 30.0, n)         # deg C
    rye = rng.integers(0, 2, n)               # whole rye flour yes/no
    salt = rng.uniform(0.0, 0.025, n)
    A = 0.9 + 1.4 * hydr - 8.0 * salt + 0.15 * rye                       # max rise (x height)
    mu = 0.08 * np.exp(0.11 * (temp - 18)) * (0.6 + 2.0 * starter) * (1 + 0.3 * rye)
    lag = 3.5 / (1 + 6 * starter) * np.exp(-0.05 * (temp - 18))
    e = np.e
    h = A[:, None] * np.exp(-np.exp(mu[:, None] * e / A[:, None] * (lag[:, None] - T[None]) + 1))
    h = h + rng.normal(0, 0.03, h.shape)
    X = np.stack([starter * 5, (hydr - 0.75) * 6, (temp - 24) / 4, rye * 2 - 1, salt * 60 - 0.75], 1)
    return X.astype(np.float32), h.astype(np.float32)


Xtr, Htr = make_jars(8000)
Xva, Hva = make_jars(500)


class Proofer(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 3)

    def __call__(self, x, t):
        z = nn.silu(self.l2(nn.silu(self.l1(x))))
        p = self.head(z)
        A = nn.softplus(p[:, 0:1]) + 0.1
        mu = nn.softplus(p[:, 1:2]) + 1e-3
        lag = nn.softplus(p[:, 2:3])
        return A * mx.exp(-mx.exp(mu * np.e / A * (lag - t[None]) + 1))


model = Proofer()
tt = mx.array(T)


def loss_fn(m, x, h):
    return nn.losses.huber_loss(m(x, tt), h, delta=0.1, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
EPOCHS, BS = 30, 50
steps_per_epoch = len(Xtr) // BS
total = EPOCHS * steps_per_epoch
base_lr, mom = 0.05, 0.9
opt = optim.SGD(learning_rate=base_lr, momentum=mom)

lines = ["$ORIGIN proofer.bakery.internal.", "$TTL 3600",
         "@  IN SOA ns1.bakery.internal. baker.bakery.internal. ( 2026112601 7200 900 1209600 300 )",
         "@  IN NS  ns1"]

# first-step gradient audit
_, g0 = vg(model, mx.array(Xtr[:BS]), mx.array(Htr[:BS]))
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
lines.append(f'gradcheck  IN TXT "leaves={len(flat)} zero={len(zero)} names={",".join(zero) or "-"}"')


def val_metrics():
    pred = model(mx.array(Xva), tt)
    err = pred - mx.array(Hva)
    rmse = float(mx.sqrt(mx.mean(err * err)))
    peak = float(mx.mean(mx.abs(pred.max(axis=1) - mx.array(Hva).max(axis=1))))
    return rmse, peak


base = float(np.sqrt(np.mean((Hva - Htr.mean(0)[None]) ** 2)))
r0, p0 = val_metrics()
lines.append(f'baseline   IN TXT "mean_curve_rmse={base:.4f} untrained_rmse={r0:.4f}"')

t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(Xtr))
    run = 0.0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        lr = 0.5 * base_lr * (1 + np.cos(np.pi * step / total)) + 1e-4
        opt.learning_rate = lr
        loss, g = vg(model, mx.array(Xtr[idx]), mx.array(Htr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    rmse, peak = val_metrics()
    lines.append(f'epoch{ep:02d}    IN TXT "train_huber={run / steps_per_epoch:.5f} '
                 f'val_rmse={rmse:.4f} peak_err={peak:.4f} lr={lr:.5f} t={time.time() - t0:.1f}s"')

# show a few jars
pred = np.array(model(mx.array(Xva[:3]), tt))
for j in range(3):
    lines.append(f'jar{j}       IN TXT "peak_pred={pred[j].max():.3f} peak_true={Hva[j].max():.3f} '
                 f'h6_pred={pred[j][12]:.3f} h6_true={Hva[j][12]:.3f}"')
lines.append("ns1        IN A 127.0.0.1")
print("\n".join(lines))
