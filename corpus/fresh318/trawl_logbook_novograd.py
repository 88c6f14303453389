"""Trawler logbook: catch per hour (log kg/h) from haul records.

NovoGrad written out by hand (layer-wise second moment), two sessions with a
checkpoint written in between and read back into a brand-new model.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(318)
N_TRAIN, N_VAL = 12000, 2000
NOISE = 0.20  # log kg/h


def make_hauls(n):
    length = rng.uniform(12, 40, n)            # vessel length, m
    kw = length * rng.uniform(12, 25, n)       # engine power
    hours = rng.uniform(1.0, 6.0, n)           # tow duration
    depth = rng.uniform(20, 400, n)            # m
    temp = rng.normal(9.0, 2.5, n)             # bottom temperature, C
    month = rng.integers(1, 13, n)
    mesh = rng.choice([80.0, 100.0, 120.0], n)  # cod-end mesh, mm
    season = np.cos(2 * np.pi * (month - 3) / 12)
    log_cpue = (3.2 + 0.9 * np.log(kw / 300) - 0.25 * np.log(hours)
                + 0.6 * np.exp(-((np.log(depth) - np.log(120)) ** 2) / 0.5)
                - 0.08 * (temp - 8.0) ** 2 / 4 + 0.35 * season
                - 0.006 * (mesh - 100) + 0.2 * np.tanh(season * (temp - 9)))
    y = log_cpue + rng.normal(0, NOISE, n)
    X = np.stack([np.log(length), np.log(kw), hours, np.log(depth), temp,
                  np.sin(2 * np.pi * month / 12), season, mesh], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make_hauls(N_TRAIN)
Xva, yva = make_hauls(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ztr, zva = (ytr - ymu) / ysd, (yva - ymu) / ysd
Xtr, Xva, ztr, zva = map(mx.array, (Xtr, Xva, ztr, zva))


class CatchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, z):
    return nn.losses.mse_loss(model(x), z)


class NovoGrad:
    """Ginsburg et al. 2019: one second-moment scalar per layer tensor."""

    def __init__(self, b1=0.95, b2=0.98, eps=1e-8, wd=1e-3):
        self.b1, self.b2, self.eps, self.wd = b1, b2, eps, wd
        self.m, self.v, self.t = {}, {}, 0

    def step(self, model, grads, lr):
        self.t += 1
        params = dict(tree_flatten(model.trainable_parameters()))
        new = []
        for k, g in tree_flatten(grads):
            p = params[k]
            n2 = mx.sum(g * g)
            if k not in self.v:
                self.v[k] = n2
                self.m[k] = mx.zeros_like(p)
            else:
                self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * n2
            d = g / (mx.sqrt(self.v[k]) + self.eps) + self.wd * p
            self.m[k] = self.b1 * self.m[k] + d
            new.append((k, p - lr * self.m[k]))
        model.update(tree_unflatten(new))

    def arrays(self):
        return list(self.m.values()) + list(self.v.values())

    def save(self, path):
        flat = {f"m::{k}": a for k, a in self.m.items()}
        flat.update({f"v::{k}": a for k, a in self.v.items()})
        mx.savez(path, **flat)

    def load(self, path, t):
        for key, a in mx.load(path).items():
            kind, k = key.split("::", 1)
            (self.m if kind == "m" else self.v)[k] = a
        self.t = t


BATCH, EPOCHS, SPLIT = 128, 10, 5
STEPS_PER_EPOCH = N_TRAIN // BATCH
TOTAL = STEPS_PER_EPOCH * EPOCHS
WARM, PEAK = 150, 0.02


def lr_at(step):  # step counts from 0; first update has lr exactly 0
    if step < WARM:
        return PEAK * step / WARM
    return PEAK * (0.3 if step >= int(0.7 * TOTAL) else 1.0)


def val_rmse(model):
    z = model(Xva)
    mse = nn.losses.mse_loss(z, zva)
    return mse.item(), (mx.sqrt(mse) * ysd).item()


def run_epochs(model, opt, first_epoch, last_epoch, session, perm_rng, t0):
    vg = nn.value_and_grad(model, loss_fn)
    step = (first_epoch - 1) * STEPS_PER_EPOCH
    for ep in range(first_epoch, last_epoch + 1):
        perm = mx.array(perm_rng.permutation(N_TRAIN).astype(np.int32))
        tot = 0.0
        for b in range(STEPS_PER_EPOCH):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = vg(model, Xtr[idx], ztr[idx])
            if step == 0:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if mx.abs(g).max().item() == 0]
                print(f"| {session} | grad check | {len(leaves)} leaves | zero: {zero or 'none'} | | | | |")
            opt.step(model, grads, lr_at(step))
            mx.eval(loss, model.parameters(), *opt.arrays())
            tot += loss.item()
            step += 1
        vm, vr = val_rmse(model)
        print(f"| {session} | {ep:2d} | {step:4d} | {lr_at(step - 1):.4f} | "
              f"{tot / STEPS_PER_EPOCH:.4f} | {vm:.4f} | {vr:.4f} | {time.time() - t0:5.1f} |")
    return step


t0 = time.time()
print("## trawl logbook: log catch per hour")
print(f"hauls {N_TRAIN} train / {N_VAL} val, target sd {ysd:.3f} log kg/h, "
      f"noise floor rmse {NOISE:.3f} (standardised mse {NOISE**2 / ysd**2:.4f})")
print()
print("| session | epoch | step | lr | train mse (std) | val mse (std) | val rmse log kg/h | s |")
print("|---|---|---|---|---|---|---|---|")

mx.random.seed(1)
model = CatchNet()
mx.eval(model.parameters())
vm0, vr0 = val_rmse(model)
print(f"| 1 | untrained | 0 | 0.0000 | | {vm0:.4f} | {vr0:.4f} | {time.time() - t0:5.1f} |")
opt = NovoGrad()
perm_rng = np.random.default_rng(7)
step = run_epochs(model, opt, 1, SPLIT, 1, perm_rng, t0)

with tempfile.TemporaryDirectory() as ckdir:
    model.save_weights(os.path.join(ckdir, "catchnet.safetensors"))
    opt.save(os.path.join(ckdir, "novograd.npz"))
    saved_val = val_rmse(model)[0]
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump({"step": step, "t": opt.t, "val_mse": saved_val,
                   "perm_state": perm_rng.bit_generator.state}, f)
    del model, opt

    mx.random.seed(99)  # a different init, overwritten by the checkpoint
    model = CatchNet()
    model.load_weights(os.path.join(ckdir, "catchnet.safetensors"))
    with open(os.path.join(ckdir, "meta.json")) as f:
        meta = json.load(f)
    opt = NovoGrad()
    opt.load(os.path.join(ckdir, "novograd.npz"), meta["t"])
    perm_rng = np.random.default_rng()
    perm_rng.bit_generator.state = meta["perm_state"]
    mx.eval(model.parameters(), *opt.arrays())
    again = val_rmse(model)[0]
    print(f"| 2 | restored | {meta['step']} | {lr_at(meta['step']):.4f} | | {again:.4f} | "
          f"saved {meta['val_mse']:.4f}, same: {abs(again - meta['val_mse']) < 1e-6} | {time.time() - t0:5.1f} |")

step = run_epochs(model, opt, SPLIT + 1, EPOCHS, 2, perm_rng, t0)
vm, vr = val_rmse(model)
print()
print(f"done: {step} updates, val rmse {vr:.4f} log kg/h vs noise floor {NOISE:.3f} "
      f"and predict-mean {ysd:.3f}; {time.time() - t0:.1f}s")
