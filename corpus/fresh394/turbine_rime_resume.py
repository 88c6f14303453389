"""Wind turbine power forecast (fraction of rated) from SCADA readings, learned online over
one winter.  Rime ice builds up slowly on the blades mid-winter and melts off again, so the
power curve sags and recovers.  The job is stopped halfway (weights and optimiser state
written to disk) and resumed in a fresh model, as the nightly scheduler does.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(39403)
mx.random.seed(39403)
TICKS, BATCH, STOP_AT = 2000, 32, 1000


def icing(t):
    # slow build-up from tick 500, peak at 1100, melts off by 1600
    return float(np.clip(np.sin(np.pi * (t - 500) / 1100), 0, None)) * (500 <= t <= 1600) * 0.35


def scada(t, n):
    ws = rng.weibull(2.0, n) * 8.0
    temp = rng.normal(-4 + 3 * np.cos(t / 300.0), 3, n)
    rh = rng.uniform(60, 100, n)
    yaw = rng.normal(0, 6, n)
    curve = 1 / (1 + np.exp(-(ws - 9.0) / 1.4)) * (ws < 25)
    loss_ice = icing(t) * (rh > 75) * (temp < 0)
    p = np.clip(curve * (1 - loss_ice) * np.cos(np.radians(yaw)) ** 2, 0, 1)
    p = p + rng.normal(0, 0.02 + 0.03 * curve, n)
    x = np.stack([ws / 10, temp / 10, (rh - 80) / 20, yaw / 10, np.sin(ws / 4)], 1).astype(np.float32)
    return x, p.astype(np.float32)


class PowerHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(5, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, 1)
        self.log_sigma = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mu(h).squeeze(-1), mx.clip(self.log_sigma(h).squeeze(-1), -6, 2)


def nll(model, x, y):
    mu, ls = model(x)
    return nn.losses.gaussian_nll_loss(mu, y, mx.exp(2 * ls), full=True, reduction="mean")


def run(model, opt, start, stop, log):
    vg = nn.value_and_grad(model, nll)
    ema, k = 0.0, 0
    t0 = time.perf_counter()
    for t in range(start, stop):
        x, y = scada(t, BATCH)
        x, y = mx.array(x), mx.array(y)
        mu, _ = model(x)
        mae = mx.mean(mx.abs(mu - y))
        loss, grads = vg(model, x, y)
        if t == 0:
            g = tree_flatten(grads)
            log(event="grad_check", leaves=len(g), nonzero=sum(int(mx.any(a != 0).item()) for _, a in g))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, mae)
        k += 1
        ema = 0.97 * ema + 0.03 * loss.item()
        if (t + 1) % 100 == 0 and not (400 <= t < 900):   # the overnight stretch is not logged
            log(event="tick", t=t + 1, icing_loss_pct=round(100 * icing(t), 1),
                nll_ema=round(ema / (1 - 0.97 ** k), 4), mae_rated_pct=round(100 * mae.item(), 2),
                lr=float(opt.learning_rate), secs=round(time.perf_counter() - t0, 1))
        if t == 399:
            log(event="quiet", note="no log lines until tick 1000")


def log(**kw):
    print(kw)


x_ref, y_ref = scada(0, 512)
x_ref, y_ref = mx.array(x_ref), mx.array(y_ref)
model = PowerHead()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
log(event="start", ticks=TICKS, batch=BATCH, params=sum(v.size for _, v in tree_flatten(model.parameters())))
run(model, opt, 0, STOP_AT, log)

ckdir = tempfile.mkdtemp(None, "rime_")
model.save_weights(os.path.join(ckdir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
before = nll(model, x_ref, y_ref).item()
log(event="checkpoint", dir=os.path.basename(ckdir), ref_nll=round(before, 5))
del model, opt

model = PowerHead()
model.load_weights(os.path.join(ckdir, "weights.safetensors"))
opt = optim.Adam(learning_rate=1e-3)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
after = nll(model, x_ref, y_ref).item()
log(event="resumed", ref_nll=round(after, 5), step=int(opt.step.item()), same=abs(before - after) < 1e-6)
run(model, opt, STOP_AT, TICKS, log)
for f in os.listdir(ckdir):
    os.remove(os.path.join(ckdir, f))
os.rmdir(ckdir)
log(event="done", ticks=TICKS)
