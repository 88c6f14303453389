"""Solar saltern: daily salt harvest (kg/m^2) per crystallising pan from six
brine/weather readings. AdamW with a warm-up from 0 and cosine decay, gradient
accumulation over three micro-batches, and a mid-run checkpoint: the run is
stopped at update 600, the model and optimizer are rebuilt from scratch and
reloaded from disk, then training continues to update 1200."""
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(2024)


def make_pans(n):
    baume = rng.uniform(20.0, 29.0, n)        # brine density, degrees Baume
    evap = rng.uniform(2.0, 9.0, n)           # pan evaporation, mm/day
    wind = rng.gamma(2.0, 2.0, n)             # m/s
    rh = rng.uniform(35.0, 90.0, n)           # relative humidity, %
    depth = rng.uniform(3.0, 15.0, n)         # brine depth, cm
    rain = rng.exponential(1.0, n) * (rng.random(n) < 0.2)  # mm
    sat = 1.0 / (1.0 + np.exp(-(baume - 25.5) * 1.3))
    y = (0.9 * sat * evap / 6.0 * (1.0 + 0.05 * wind) * (1.2 - rh / 100.0)
         * np.exp(-((depth - 8.0) / 7.0) ** 2) - 0.12 * rain)
    y = np.maximum(y, 0.0) + rng.normal(0.0, 0.08, n)
    X = np.stack([baume, evap, wind, rh, depth, rain], axis=1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make_pans(9000)
Xva, yva = make_pans(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))


class PanNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


WARM, TOTAL, STOP_AT, MICRO, MB = 120, 1200, 600, 3, 64


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, TOTAL - WARM, 3e-5)], [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4, bias_correction=True)


def valid_rmse(model):
    return math.sqrt(loss_fn(model, Xva, yva).item())


class Cursor:
    def __init__(self, n, seed):
        self.n, self.r = n, np.random.default_rng(seed)
        self.perm, self.pos = self.r.permutation(n), 0

    def next(self, b):
        if self.pos + b > self.n:
            self.perm, self.pos = self.r.permutation(self.n), 0
        idx = self.perm[self.pos:self.pos + b]
        self.pos += b
        return mx.array(idx)


def run(model, opt, cursor, start, stop, report, window):
    grad_fn = nn.value_and_grad(model, loss_fn)
    for upd in range(start + 1, stop + 1):
        acc, tot = None, 0.0
        for _ in range(MICRO):
            idx = cursor.next(MB)
            loss, g = grad_fn(model, Xtr[idx], ytr[idx])
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            tot = tot + loss
        acc = tree_map(lambda a: a / MICRO, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, tot)
        lr_used = opt.learning_rate.item()
        window.append(tot.item() / MICRO)
        if upd in report:
            tr = math.sqrt(sum(window) / len(window))
            window.clear()
            print(f"{upd}\t{lr_used:.2e}\t{tr:.4f}\t{valid_rmse(model):.4f}")


t0 = time.time()
mx.random.seed(0)
model = PanNet()
mx.eval(model.parameters())
opt = make_optimizer()
base = float(np.sqrt(np.mean((np.array(yva) - np.array(ytr).mean()) ** 2)))
print(f"# saltern pans: train {Xtr.shape[0]}  valid {Xva.shape[0]}  features 6")
print(f"# predict-the-mean valid rmse {base:.4f} kg/m2 ; sensor noise floor 0.080 kg/m2")

g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ytr[:256])[1]
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"# gradient leaves {len(tree_flatten(g0))}, all-zero leaves {zero}")
print(f"# untrained valid rmse {valid_rmse(model):.4f}")
print("update\tlr_used\ttrain_rmse\tvalid_rmse")

cursor = Cursor(Xtr.shape[0], 1)
window = []
report_a = {1, 2, 10, 60, 120, 200}
run(model, opt, cursor, 0, STOP_AT, report_a, window)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "pannet.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "adamw.safetensors"), dict(tree_flatten(opt.state)))
probe_before = loss_fn(model, Xva[:500], yva[:500]).item()
m_norm_before = math.sqrt(sum(float((v * v).sum()) for k, v in tree_flatten(opt.state) if k.endswith(".m")))
print(f"# {STOP_AT}\tcheckpoint written ({len(tree_flatten(opt.state))} optimizer arrays), process state dropped")
del model, opt

mx.random.seed(99)
model = PanNet()
opt = make_optimizer()
model.load_weights(os.path.join(ckpt, "pannet.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "adamw.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
probe_after = loss_fn(model, Xva[:500], yva[:500]).item()
m_norm_after = math.sqrt(sum(float((v * v).sum()) for k, v in tree_flatten(opt.state) if k.endswith(".m")))
print(f"# resumed: optimizer step {int(opt.state['step'].item())}, probe loss change {probe_after - probe_before:+.2e}, "
      f"first-moment norm {m_norm_before:.4e} -> {m_norm_after:.4e}")
window.clear()
run(model, opt, cursor, STOP_AT, TOTAL, {601, 650, 800, 1000, 1200}, window)

final = valid_rmse(model)
shutil.rmtree(ckpt)
print(f"# done: valid rmse {final:.4f} vs mean-guess {base:.4f} ({100 * (1 - final / base):.1f}% lower), "
      f"{time.time() - t0:.1f}s")
