import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
SIGMA = 0.25

def dyed_patches(n):
    yy, xx = np.mgrid[0:8, 0:8].astype(np.float32)
    out = np.empty((n, 8, 8, 1), np.float32)
    for i in range(n):
        fx, fy = rng.uniform(0.4, 1.4, 2)
        ph = rng.uniform(0, 2 * np.pi)
        wax = np.sin(fx * xx + ph) * np.cos(fy * yy) > rng.uniform(-0.3, 0.3)
        dye = rng.uniform(0.3, 0.9)
        img = np.where(wax, 0.95, dye)
        cracks = rng.random((8, 8)) < 0.04
        img = np.where(cracks & wax, dye * 0.7, img)
        out[i, :, :, 0] = img
    return out

clean_tr = dyed_patches(4000)
clean_va = dyed_patches(300)
noisy_va = clean_va + SIGMA * rng.standard_normal(clean_va.shape).astype(np.float32)
clean_va, noisy_va = mx.array(clean_va), mx.array(noisy_va)

class Restorer(nn.Module):
    def __init__(self, ch=10):
        super().__init__()
        self.a = nn.Conv2d(1, ch, 3, padding=1)
        self.b = nn.Conv2d(ch, ch, 3, padding=1)
        self.c = nn.Conv2d(ch, ch, 3, padding=1)
        self.head = nn.Conv2d(ch, 2, 3, padding=1)
    def __call__(self, x):
        h = nn.gelu(self.a(x))
        h = h + nn.gelu(self.c(nn.gelu(self.b(h))))
        o = self.head(h)
        mean = x + o[..., :1]
        logvar = mx.clip(o[..., 1:] - 3.0, -9.0, 2.0)
        return mean, logvar

def gauss_nll(model, noisy, clean):
    mean, logvar = model(noisy)
    return mx.mean(0.5 * (logvar + (clean - mean) ** 2 * mx.exp(-logvar)) + 0.5 * math.log(2 * math.pi))

def psnr(a, b):
    return (10 * mx.log10(1.0 / mx.mean((a - b) ** 2))).item()

CYCLE = 100
def cycle_schedule():
    warm = optim.linear_schedule(0.0, 2e-3, 20)
    parts, bounds = [warm, optim.cosine_decay(2e-3, CYCLE - 20, 1e-5)], [20]
    for k in (1, 2):
        parts.append(optim.cosine_decay(2e-3, CYCLE, 1e-5))
        bounds.append(k * CYCLE)
    return optim.join_schedules(parts, bounds)

def make():
    m = Restorer()
    mx.eval(m.parameters())
    o = optim.Adamax(learning_rate=cycle_schedule())
    return m, o

def step_fn(model, opt):
    vg = nn.value_and_grad(model, gauss_nll)
    def step(noisy, clean):
        loss, g = vg(model, noisy, clean)
        opt.update(model, g)
        return loss
    return step

def batch(bs=32):
    idx = rng.integers(0, clean_tr.shape[0], bs)
    c = clean_tr[idx]
    if rng.random() < 0.5:
        c = np.ascontiguousarray(c[:, :, ::-1])
    n = c + SIGMA * rng.standard_normal(c.shape).astype(np.float32)
    return mx.array(n), mx.array(c)

def report(tag, model, opt, it, loss):
    mean, logvar = model(noisy_va)
    rec = {"tag": tag, "iter": it, "lr": round(opt.learning_rate.item(), 6),
           "train_nll": round(loss, 4), "val_nll": round(gauss_nll(model, noisy_va, clean_va).item(), 4),
           "val_psnr_db": round(psnr(mean, clean_va), 2),
           "pred_sigma": round(mx.mean(mx.exp(0.5 * logvar)).item(), 4)}
    print(json.dumps(rec))

print(json.dumps({"tag": "setup", "train": int(clean_tr.shape[0]), "val": int(clean_va.shape[0]),
                  "noise_sigma": SIGMA, "noisy_input_psnr_db": round(psnr(noisy_va, clean_va), 2),
                  "identity_baseline_nll": round(0.5 * math.log(2 * math.pi * SIGMA ** 2) + 0.5, 4)}))

model, opt = make()
step = step_fn(model, opt)
t0 = time.time()
it = 0
loss_v = float("nan")
for it in range(1, 2 * CYCLE + 1):
    n, c = batch()
    loss = step(n, c)
    mx.eval(model.parameters(), opt.state, loss)
    loss_v = loss.item()
    if it == 1 or it % CYCLE == 0:
        report("run1", model, opt, it, loss_v)

ckdir = tempfile.mkdtemp()
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
ref = gauss_nll(model, noisy_va, clean_va).item()
del model, opt, step

model, opt = make()
model.load_weights(os.path.join(ckdir, "w.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
step = step_fn(model, opt)
print(json.dumps({"tag": "resume", "opt_step": int(opt.state["step"].item()),
                  "val_nll_before": round(ref, 6),
                  "val_nll_after": round(gauss_nll(model, noisy_va, clean_va).item(), 6)}))
for it in range(2 * CYCLE + 1, 3 * CYCLE + 1):
    n, c = batch()
    loss = step(n, c)
    mx.eval(model.parameters(), opt.state, loss)
    loss_v = loss.item()
    if it in (2 * CYCLE + 1, 2 * CYCLE + 20) or it % 50 == 0:
        report("run2", model, opt, it, loss_v)
print(json.dumps({"tag": "done", "secs": round(time.time() - t0, 1)}))
