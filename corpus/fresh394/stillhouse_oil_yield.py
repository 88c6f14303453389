# Peppermint still house: essential-oil yield per charge, log scale, with a learned spread.
import json
import os
import shutil
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(23)
LOG_NOISE = 0.10


def charges(n):
    moisture = rng.uniform(40, 75, n)          # % water in the hay
    wilt_h = rng.uniform(0, 48, n)             # hours field-wilted
    steam = rng.uniform(0.6, 1.4, n)           # steam rate, relative
    leaf = rng.uniform(0.35, 0.65, n)          # leaf share of the charge
    cut = rng.integers(1, 3, n).astype(float)  # first or second cutting
    log_y = (np.log(0.9) + 1.6 * (leaf - 0.5) - 0.012 * (moisture - 55)
             + 0.18 * np.log1p(wilt_h) - 0.35 * (steam - 1.0) ** 2 - 0.15 * (cut - 1))
    obs = log_y + rng.normal(0, LOG_NOISE, n)
    X = np.stack([moisture, wilt_h, steam, leaf, cut], 1).astype(np.float32)
    return X, obs.astype(np.float32), log_y.astype(np.float32)


Xtr, ytr, _ = charges(6000)
Xva, yva, fva = charges(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array(ytr), mx.array(yva)
floor_nll = float(0.5 * np.log(2 * np.pi) + np.log(LOG_NOISE) + 0.5)


class StillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(),
                                  nn.Linear(48, 1))
        self.log_sigma = mx.array(0.0)

    def __call__(self, x):
        return self.body(x).squeeze(-1)


def nll(model, x, y):
    r = (y - model(x)) / mx.exp(model.log_sigma)
    return mx.mean(0.5 * r ** 2 + model.log_sigma) + 0.5 * np.log(2 * np.pi)


def build(seed):
    mx.random.seed(seed)
    m = StillNet()
    o = optim.Adam(learning_rate=3e-3)
    mx.eval(m.parameters())
    return m, o


def make_step(model, opt):
    vg = nn.value_and_grad(model, nll)

    @partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])
    def step(x, y):
        loss, g = vg(model, x, y)
        opt.update(model, g)
        return loss
    return step


def report(tag, ep, model, tr):
    v = nll(model, Xva_m, yva_m).item()
    pct = float(mx.mean(mx.abs(mx.exp(model(Xva_m) - yva_m) - 1)).item()) * 100
    trs = "   n/a " if tr is None else f"{tr:+.4f}"
    print(f"{tag} pass {ep:02d}: train nll {trs}  val nll {v:+.4f}  "
          f"(floor {floor_nll:+.4f})  sigma {float(mx.exp(model.log_sigma).item()):.4f}  "
          f"val abs err {pct:.1f}%")
    return v


def run_epochs(model, opt, step, first, last, tag):
    BS = 100
    for ep in range(first, last + 1):
        perm = mx.array(rng.permutation(len(ytr)))
        tot = 0.0
        for i in range(0, len(ytr), BS):
            idx = perm[i:i + BS]
            loss = step(Xtr_m[idx], ytr_m[idx])
            mx.eval(loss, model.state, opt.state)
            tot += loss.item()
        report(tag, ep, model, tot / (len(ytr) // BS))


t0 = time.time()
model, opt = build(23)
print(f"charges 6000/1500; noise-only val nll would be {floor_nll:+.4f} (negative is fine)")
report("[still A]", 0, model, None)
run_epochs(model, opt, make_step(model, opt), 1, 12, "[still A]")

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "adam.safetensors"),
                    dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": 12, "lr": 3e-3}, f)
saved_val = nll(model, Xva_m, yva_m).item()
del model, opt
print(f"shift change: wrote {sorted(os.listdir(ckpt))}")

model, opt = build(999)
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "adam.safetensors")).items()))
meta = json.load(open(os.path.join(ckpt, "meta.json")))
back = nll(model, Xva_m, yva_m).item()
print(f"resumed at epoch {meta['epoch']}: val nll {back:+.4f} (saved {saved_val:+.4f}), "
      f"adam step {int(opt.state['step'].item())}")
run_epochs(model, opt, make_step(model, opt), meta["epoch"] + 1, 30, "[still B]")
shutil.rmtree(ckpt)
print(f"done in {time.time() - t0:.1f}s")
