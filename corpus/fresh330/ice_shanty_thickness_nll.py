"""Ice-fishing camp: overnight lake-ice growth (target in decimetres, reported in cm) with a heteroscedastic Gaussian head.

The network predicts a mean and a log-variance for the overnight growth from
8 evening readings; training minimises Gaussian negative log-likelihood, so the
loss goes below zero once the predicted spread is tight.  The learning rate
follows cosine cycles with warm restarts (cycle lengths 1, 2, 4 x base), and a
checkpoint (weights, optimizer state, cycle, step, data-order RNG) is written
at every cycle end.  Part-way through cycle 3 the camp generator cuts out: the
run restarts from the last checkpoint and replays the lost steps.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(3)
data_rng = np.random.default_rng(3)


def camp_readings(n):
    air = data_rng.normal(-14, 7, n)            # evening air temperature C
    wind = data_rng.gamma(2.0, 3.0, n)          # m/s
    snow = data_rng.gamma(1.2, 4.0, n)          # cm of snow on the ice
    ice = data_rng.uniform(10, 60, n)           # current ice thickness cm
    cloud = data_rng.uniform(0, 1, n)
    hours = data_rng.uniform(10, 15, n)         # hours of darkness
    slush = (data_rng.uniform(size=n) < 0.15).astype(float)
    depth = data_rng.uniform(2, 25, n)          # lake depth m
    X = np.stack([air / 10, wind / 5, snow / 5, ice / 30, cloud, (hours - 12.5) / 2, slush, depth / 10], 1)
    freezing = np.maximum(-air, 0) * hours / 24.0
    insul = 1.0 / (1.0 + 0.25 * snow + 0.02 * ice)
    mean = 0.55 * freezing * insul * (1 + 0.03 * wind) * (1 - 0.4 * cloud) - 0.8 * slush
    sd = 0.15 + 0.35 * slush + 0.04 * wind + 0.08 * cloud * freezing * insul
    y = mean + data_rng.normal(0, 1, n) * sd
    return X.astype(np.float32), (y / 10).astype(np.float32), sd / 10


class GrowthNet(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.mean = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 5.0)


def nll(model, x, y):
    mu, lv = model(x)
    return nn.losses.gaussian_nll_loss(mu, y, mx.exp(lv), full=True)


def metrics(model, x, y):
    mu, lv = model(x)
    z = (y - mu) / mx.exp(0.5 * lv)
    cover = mx.mean((mx.abs(z) < 1.645).astype(mx.float32)).item()
    return nll(model, x, y).item(), 10 * mx.sqrt(mx.mean((mu - y) ** 2)).item(), cover


Xtr, ytr, _ = camp_readings(6000)
Xva, yva, sd_va = camp_readings(1500)
Xtr_m, ytr_m, Xva_m, yva_m = map(mx.array, (Xtr, ytr, Xva, yva))

# baselines: one global Gaussian, and the true generating spread (the floor)
g_mu, g_sd = float(ytr.mean()), float(ytr.std())
nll_global = float(np.mean(0.5 * np.log(2 * np.pi * g_sd ** 2) + 0.5 * ((yva - g_mu) / g_sd) ** 2))
nll_oracle = float(np.mean(0.5 * np.log(2 * np.pi * sd_va ** 2) + 0.5))
print(f"baselines: global-gaussian nll {nll_global:.3f}, rmse {10 * float(np.sqrt(np.mean((yva - g_mu) ** 2))):.3f} cm;"
      f" oracle nll ~{nll_oracle:.3f}")

BS = 64
STEPS_PER_EPOCH = 6000 // BS
BASE = 2 * STEPS_PER_EPOCH
CYCLES = [BASE, 2 * BASE, 4 * BASE]
PEAK, FLOOR = 2e-3, 2e-5
CUT_AT = (2, 3 * BASE + 70)  # (cycle index, global step) where the generator fails


def cycle_lr(step_in_cycle, length):
    return FLOOR + 0.5 * (PEAK - FLOOR) * (1 + np.cos(np.pi * step_in_cycle / length))


class GeneratorCut(RuntimeError):
    pass


ckdir = tempfile.mkdtemp()


def save_ckpt(model, opt, cycle, gstep, order):
    model.save_weights(os.path.join(ckdir, "w.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump({"cycle": cycle, "gstep": gstep, "order": order.bit_generator.state}, f)


def load_ckpt():
    model = GrowthNet()
    model.load_weights(os.path.join(ckdir, "w.safetensors"))
    opt = optim.AdamW(learning_rate=PEAK, weight_decay=1e-4)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    meta = json.load(open(os.path.join(ckdir, "meta.json")))
    order = np.random.default_rng()
    order.bit_generator.state = meta["order"]
    return model, opt, meta["cycle"], meta["gstep"], order


def train(model, opt, start_cycle, gstep, order, cut):
    step_fn = nn.value_and_grad(model, nll)
    for c in range(start_cycle, len(CYCLES)):
        length = CYCLES[c]
        run = []
        perm, pos = order.permutation(6000), 0
        for k in range(length):
            if pos + BS > 6000:
                perm, pos = order.permutation(6000), 0
            idx = mx.array(perm[pos:pos + BS])
            pos += BS
            opt.learning_rate = mx.array(cycle_lr(k, length), mx.float32)
            loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            gstep += 1
            run.append(loss.item())
            if k < 3 or k == length // 2:
                print(f"  cycle {c + 1} step {gstep:5d}  lr {cycle_lr(k, length):.2e}  train nll {run[-1]:+.3f}")
            if cut and c == cut[0] and gstep == cut[1]:
                raise GeneratorCut(f"generator cut at step {gstep}")
        vn, vr, cov = metrics(model, Xva_m, yva_m)
        print(f"cycle {c + 1} done  step {gstep}  last-50 train nll {np.mean(run[-50:]):+.3f}"
              f"  val nll {vn:+.3f}  val rmse {vr:.3f} cm  90% cover {cov:.2f}")
        save_ckpt(model, opt, c + 1, gstep, order)
    return model, gstep


t0 = time.time()
model = GrowthNet()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=PEAK, weight_decay=1e-4)
vn, vr, cov = metrics(model, Xva_m, yva_m)
print(f"init: val nll {vn:+.3f}  val rmse {vr:.3f} cm")
try:
    model, gstep = train(model, opt, 0, 0, np.random.default_rng(99), CUT_AT)
except GeneratorCut as e:
    print(f"!! {e}; restarting from last checkpoint")
    model, opt, c0, g0, order = load_ckpt()
    print(f"resumed: cycle {c0 + 1}, global step {g0}, optimizer step {opt.state['step'].item()}")
    model, gstep = train(model, opt, c0, g0, order, None)

vn, vr, cov = metrics(model, Xva_m, yva_m)
print("---- validation ----")
print(f"global gaussian   nll {nll_global:+.3f}")
print(f"model             nll {vn:+.3f}   rmse {vr:.3f} cm   90% interval cover {cov:.2f}")
print(f"oracle spread     nll {nll_oracle:+.3f}")
print(f"total steps {gstep}, {time.time() - t0:.1f}s")
