"""Aquaponics sump: dissolved-oxygen (mg/L) forecast 6 x 30 min ahead from the
last 12 h of half-hourly readings. nn.LSTM encoder + Gaussian head (mean and
log-variance per lead), Gaussian NLL, Muon on the matrices, compiled step."""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(5)
mx.random.seed(5)

LOOK, LEAD = 24, 6
NOISE = 0.12  # probe noise, mg/L


def tank(days):
    n = days * 48
    t = np.arange(n)
    hour = (t % 48) / 2.0
    temp = 22 + 2.5 * np.sin(2 * np.pi * (hour - 9) / 24) + np.cumsum(rng.normal(0, 0.03, n))
    sat = 14.6 - 0.39 * temp + 0.007 * temp ** 2
    light = np.clip(np.sin(np.pi * (hour - 6) / 13), 0, None)
    feed = np.isin(t % 48, [16, 34]).astype(float)
    pump_off = np.zeros(n)
    for s in np.where(rng.random(n) < 0.004)[0]:
        pump_off[s:s + rng.integers(2, 6)] = 1.0
    do = np.empty(n)
    do[0] = sat[0] - 1.0
    demand = 0.0
    for i in range(1, n):
        demand = 0.8 * demand + 0.9 * feed[i - 1]
        k = 0.12 * (1 - pump_off[i])
        do[i] = (do[i - 1] + k * (sat[i] - do[i - 1]) + 0.35 * light[i]
                 - 0.10 - 0.25 * demand)
    obs = do + rng.normal(0, NOISE, n)
    feats = np.stack([obs, temp, np.sin(2 * np.pi * hour / 24),
                      np.cos(2 * np.pi * hour / 24), feed, pump_off], -1)
    return feats.astype(np.float32), obs.astype(np.float32)


def windows(n_tanks, days):
    X, Y, P, S = [], [], [], []
    for _ in range(n_tanks):
        f, o = tank(days)
        for s in range(48 - LOOK, len(o) - LOOK - LEAD, 3):
            X.append(f[s:s + LOOK])
            Y.append(o[s + LOOK:s + LOOK + LEAD])
            P.append(np.repeat(o[s + LOOK - 1], LEAD))
            S.append(o[s + LOOK - 48:s + LOOK - 48 + LEAD])
    return [np.array(a, np.float32) for a in (X, Y, P, S)]


Xtr, Ytr, _, _ = windows(24, 20)
Xva, Yva, Pva, Sva = windows(6, 20)
mu, sd = Xtr.reshape(-1, 6).mean(0), Xtr.reshape(-1, 6).std(0) + 1e-6
y_mu, y_sd = float(Ytr.mean()), float(Ytr.std())
Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
Ytr_n = (Ytr - y_mu) / y_sd
print(f"train {len(Xtr)} windows, val {len(Xva)}; DO mean {y_mu:.2f} sd {y_sd:.2f} mg/L")
floor = 0.5 * np.log(2 * np.pi * (NOISE / y_sd) ** 2) + 0.5
print(f"reference: NLL of a perfect mean with only probe noise = {floor:.3f}")


class OxyNet(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.enc = nn.LSTM(6, hidden)
        self.mean = nn.Linear(hidden, LEAD)
        self.logvar = nn.Linear(hidden, LEAD)

    def __call__(self, x):
        h, _ = self.enc(x)
        last = h[:, -1]
        return self.mean(last), mx.clip(self.logvar(last), -8.0, 4.0)


def nll(model, x, y):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))


model = OxyNet()
mx.eval(model.parameters())
STEPS = 700
sched = optim.join_schedules([optim.linear_schedule(0.0, 0.02, 80),
                              optim.cosine_decay(0.02, STEPS - 80, 0.002)], [80])
opt = optim.Muon(learning_rate=sched, momentum=0.95, weight_decay=0.0)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, nll)(model, x, y)
    g, _ = optim.clip_grad_norm(g, 2.0)
    opt.update(model, g)
    return loss


def val_metrics():
    m, lv = model(mx.array(Xva_n))
    v = nll(model, mx.array(Xva_n), mx.array((Yva - y_mu) / y_sd)).item()
    pred = np.array(m) * y_sd + y_mu
    mae = np.abs(pred - Yva).mean(0)
    sig = np.sqrt(np.exp(np.array(lv))) * y_sd
    cover = np.mean(np.abs(pred - Yva) < 1.645 * sig)
    return v, mae, cover


t0 = time.time()
best, best_w, best_step, bad = np.inf, None, 0, 0
n, B = len(Xtr_n), 64
EVAL_EVERY = 100
for it in range(1, STEPS + 1):
    idx = rng.integers(0, n, B)
    loss = step(mx.array(Xtr_n[idx]), mx.array(Ytr_n[idx]))
    mx.eval(state)
    if it % EVAL_EVERY == 0:
        v, mae, cover = val_metrics()
        tag = ""
        if v < best - 1e-3:
            best, best_step, bad = v, it, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            tag = "  *"
        else:
            bad += 1
        print(f"step {it:5d}  train nll {loss.item():+.3f}  val nll {v:+.3f}  "
              f"MAE lead1 {mae[0]:.3f} lead6 {mae[-1]:.3f}  90% cover {cover:.2f}{tag}")
        if bad >= 3:
            print(f"no val improvement for {bad} evals, stopping")
            break

model.update(best_w)
mx.eval(model.parameters())
v, mae, cover = val_metrics()
print(f"restored step {best_step}: val nll {v:+.3f}  (noise-only reference {floor:+.3f})")
pers = np.abs(Pva - Yva).mean(0)
seas = np.abs(Sva - Yva).mean(0)
print("lead(min)  model  persistence  same-time-yesterday")
for i in range(LEAD):
    print(f"{30 * (i + 1):8d}  {mae[i]:.3f}  {pers[i]:11.3f}  {seas[i]:19.3f}")
print(f"90% interval coverage {cover:.3f}")
print(f"done in {time.time() - t0:.1f}s")
