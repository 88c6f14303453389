"""Hay barn log: how much does a bale's core heat up in the week after baling?
Predict the expected rise (deg C) and its spread from the baling record
(moisture %, density, ambient temperature, rain before baling, preservative,
legume share).  Two stages: a mean fit, then the spread head joins in."""
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3910)


def baling_record(n):
    moist = rng.uniform(10.0, 28.0, n)          # % moisture at baling
    dens = rng.uniform(140.0, 240.0, n)         # kg/m3
    amb = rng.uniform(8.0, 30.0, n)             # deg C
    rain = rng.binomial(1, 0.25, n).astype(float)
    pres = rng.binomial(1, 0.3, n).astype(float)
    legume = rng.uniform(0.0, 0.6, n)
    wet = np.maximum(moist - 14.0, 0.0)
    rise = (1.5 + 1.1 * wet + 0.035 * wet ** 2 * (dens / 190.0) + 0.12 * (amb - 18.0)
            + 2.0 * rain * (wet > 2) + 3.0 * legume - 2.5 * pres * np.tanh(wet / 5.0))
    sd = 0.4 + 0.12 * wet + 0.8 * rain * (wet > 4)
    y = rise + sd * rng.standard_normal(n)
    X = np.stack([moist, dens, amb, rain, pres, legume], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = baling_record(10000)
Xva, yva = baling_record(2000)
mu, sdx = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_m = mx.array((Xtr - mu) / sdx)
ytr_m = mx.array((ytr - ymu) / ysd)
Xva_m = mx.array((Xva - mu) / sdx)
wet_va = Xva[:, 0] > 20.0


class BaleNet(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.l1 = nn.Linear(6, width)
        self.l2 = nn.Linear(width, width)
        self.mean_head = nn.Linear(width, 1)
        self.spread_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        m = self.mean_head(h).squeeze(-1)
        logv = mx.clip(self.spread_head(h).squeeze(-1), -9.0, 4.0)
        return m, logv


def mse_loss(model, x, y):
    m, _ = model(x)
    return mx.mean((m - y) ** 2)


def nll_loss(model, x, y):
    m, logv = model(x)
    return mx.mean(0.5 * (logv + (y - m) ** 2 * mx.exp(-logv) + np.log(2 * np.pi)))


def evaluate(model):
    m, logv = model(Xva_m)
    m = np.array(m) * ysd + ymu
    s = np.exp(0.5 * np.array(logv)) * ysd
    err = m - yva
    rmse = float(np.sqrt(np.mean(err ** 2)))
    nll_z = float(np.mean(0.5 * (np.log(2 * np.pi * (s / ysd) ** 2) + (err / s) ** 2)))
    cover = 100.0 * float(np.mean(np.abs(err) <= 1.645 * s))
    return rmse, nll_z, cover, float(np.mean(s[wet_va])), float(np.mean(s[~wet_va]))


W = 84
G1 = f"{'':>5} {'':>9} | {'training batch':^17} | {'held-out bales':^40} |"
H1 = f"{'step':>5} {'lr':>9} | {'loss':>8} {'kind':>8} | {'rmse':>7} {'nll':>8} {'90% band':>9} {'sd wet':>7} {'sd dry':>6} | {'secs':>5}"
H2 = f"{'':>5} {'':>9} | {'(z)':>8} {'':>8} | {'(C)':>7} {'(z)':>8} {'cover %':>9} {'(C)':>7} {'(C)':>6} | {'':>5}"


def row(step, lr, loss, kind, model, t0, show_spread):
    rmse, nll, cover, s_wet, s_dry = evaluate(model)
    if show_spread:
        tail = f"{nll:>8.3f} {cover:>9.1f} {s_wet:>7.2f} {s_dry:>6.2f}"
    else:
        tail = f"{'-':>8} {'-':>9} {'-':>7} {'-':>6}"
    ls = f"{loss:>8.4f}" if loss is not None else f"{'-':>8}"
    print(f"{step:>5d} {lr:>9.2e} | {ls} {kind:>8} | {rmse:>7.3f} {tail} | {time.time() - t0:>5.1f}")
    return rmse, nll, cover


def table_head(title):
    print()
    print(title)
    print(G1)
    print(H1)
    print(H2)
    print("-" * W)


pm_rmse = float(np.sqrt(np.mean((ymu - yva) ** 2)))
true_sd_wet = float(np.mean(0.4 + 0.12 * np.maximum(Xva[wet_va, 0] - 14, 0) + 0.8 * Xva[wet_va, 3] * (Xva[wet_va, 0] - 14 > 4)))
true_sd_dry = float(np.mean(0.4 + 0.12 * np.maximum(Xva[~wet_va, 0] - 14, 0) + 0.8 * Xva[~wet_va, 3] * (Xva[~wet_va, 0] - 14 > 4)))
print(f"barn log: {len(ytr)} bales to learn from, {len(yva)} held out; mean core rise {ymu:.2f} C, sd {ysd:.2f} C")
print(f"reference: predict-the-mean rmse {pm_rmse:.3f} C; true noise sd wet bales (>20 %) {true_sd_wet:.2f} C, dry {true_sd_dry:.2f} C")

BATCH = 128
mx.random.seed(3910)
t0 = time.time()

# ---- stage A: mean only, spread head held still
model = BaleNet()
model.spread_head.freeze()
n_train = len(tree_flatten(model.trainable_parameters()))
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, mse_loss)
STEPS_A = 900
table_head(f"stage A: mean head, mse, Adam 2e-3, {STEPS_A} steps, {n_train} trainable tensors (spread head frozen)")
row(0, 2e-3, None, "mse", model, t0, False)
acc = []
for step in range(1, STEPS_A + 1):
    idx = mx.array(rng.integers(0, len(ytr), BATCH))
    loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    acc.append(loss.item())
    if step % 150 == 0:
        row(step, 2e-3, float(np.mean(acc)), "mse", model, t0, False)
        acc = []
print("-" * W)

ckdir = tempfile.mkdtemp()
path = os.path.join(ckdir, "stage_a.safetensors")
model.save_weights(path)
rmse_a = evaluate(model)[0]
del model, opt, vg

# ---- stage B: fresh model from the stage-A file, spread head joins, Gaussian NLL
model = BaleNet()
model.load_weights(path)
rmse_b0 = evaluate(model)[0]
print(f"checkpoint {os.path.basename(path)} ({os.path.getsize(path) // 1024} KiB) reloaded into a new BaleNet: "
      f"held-out rmse {rmse_a:.4f} -> {rmse_b0:.4f} C")
STEPS_B, PEAK, WARM = 1500, 1.5e-3, 150
sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM),
                              optim.cosine_decay(PEAK, STEPS_B - WARM, 2e-5)], [WARM])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, nll_loss)
n_train = len(tree_flatten(model.trainable_parameters()))
table_head(f"stage B: mean + spread, gaussian nll, Adam warm-up from 0 over {WARM} steps, "
           f"{STEPS_B} steps, {n_train} trainable tensors")
row(0, 0.0, None, "nll", model, t0, True)
acc = []
for step in range(1, STEPS_B + 1):
    idx = mx.array(rng.integers(0, len(ytr), BATCH))
    loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    acc.append(loss.item())
    if step in (1, 50, 150) or step % 250 == 0:
        rmse, nll, cover = row(step, sched(step - 1).item(), float(np.mean(acc)), "nll", model, t0, True)
        acc = []
print("-" * W)
print(f"{'ref':>5} {'':>9} | {'':>8} {'':>8} | {pm_rmse:>7.3f} {'':>8} {90.0:>9.1f} {true_sd_wet:>7.2f} {true_sd_dry:>6.2f} |  (mean predictor / target cover / true sd)")
os.remove(path)
os.rmdir(ckdir)
print(f"done: held-out rmse {rmse:.3f} C (mean predictor {pm_rmse:.3f} C), nll {nll:.3f} per bale in z units, "
      f"90% band cover {cover:.1f} %")
