"""Cider press: juice yield (litres per 100 kg of apples) from press settings.

The model's output goes through a bounded-yield activation written with
mx.custom_function and its own vjp.  Training runs in two sessions: session 1 trains
8 epochs and writes a checkpoint (weights + Adam state + epoch) into a temp dir,
session 2 builds everything fresh, loads the checkpoint and continues to epoch 16.
"""
import os
import json
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map_with_path

rng = np.random.default_rng(11)
N_TR, N_TE = 12000, 2000
FEATS = ["pressure_bar", "mill_gap_mm", "pomace_temp_c", "press_minutes", "sugar_brix", "ripeness"]


def make(n):
    p = rng.uniform(2, 12, n); gap = rng.uniform(2, 8, n); temp = rng.uniform(4, 22, n)
    mins = rng.uniform(10, 90, n); brix = rng.uniform(9, 16, n); rip = rng.uniform(0, 1, n)
    drive = (0.25 * p - 0.3 * gap + 0.04 * temp + 0.9 * np.log(mins) + 0.08 * brix
             - 1.6 * (rip - 0.55) ** 2 - 3.0)
    y = 78.0 / (1.0 + np.exp(-drive)) + 1.0 * rng.standard_normal(n)   # litres / 100 kg
    return np.stack([p, gap, temp, mins, brix, rip], 1).astype(np.float32), y.astype(np.float32)


Xtr, ytr = make(N_TR); Xte, yte = make(N_TE)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array((Xtr - mu) / sd); Xte = mx.array((Xte - mu) / sd)
ytr = mx.array(ytr); yte = mx.array(yte)
CAP = 80.0


@mx.custom_function
def bounded_yield(x):
    return CAP * mx.sigmoid(x)


@bounded_yield.vjp
def bounded_yield_vjp(primals, cotangent, output):
    s = output / CAP
    return cotangent * CAP * s * (1.0 - s)


class Press(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return bounded_yield(self.head(self.body(x)).squeeze(-1))


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


def build(seed):
    mx.random.seed(seed)
    model = Press()
    opt = optim.Adam(learning_rate=2e-3)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    return model, opt, step


def test_metrics(model):
    pred = model(Xte)
    err = pred - yte
    mae = mx.mean(mx.abs(err)).item()
    within2 = 100.0 * mx.mean((mx.abs(err) < 2.0).astype(mx.float32)).item()
    return mae, within2


def run_epochs(model, opt, step, first, last, tag):
    B = 64
    for ep in range(first, last + 1):
        t0 = time.time()
        perm = mx.array(rng.permutation(N_TR))
        tot, nb = 0.0, 0
        for i in range(0, N_TR, B):
            idx = perm[i:i + B]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(model.state, opt.state, loss)
            tot += loss.item(); nb += 1
        mae, w2 = test_metrics(model)
        print(f"[{tag}] epoch {ep:2d}  train huber {tot/nb:7.3f}  test MAE {mae:5.2f} L/100kg"
              f"  within 2 L: {w2:5.1f}%  ({time.time()-t0:.1f}s)")


def save_ckpt(d, model, opt, epoch):
    model.save_weights(os.path.join(d, "press.safetensors"))
    flat = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(d, "adam.safetensors"), flat)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"epoch": epoch}, f)


def load_ckpt(d, model, opt):
    model.load_weights(os.path.join(d, "press.safetensors"))
    saved = mx.load(os.path.join(d, "adam.safetensors"))
    # rebuild the tree in the fresh optimizer's own structure, then write it back in
    # place: the compiled step holds this very dict
    loaded = tree_map_with_path(lambda path, v: saved[path], opt.state)
    for k, v in loaded.items():
        opt.state[k] = v
    with open(os.path.join(d, "meta.json")) as f:
        return json.load(f)["epoch"]


print(f"cider press data: {N_TR} train / {N_TE} test pressings, features {FEATS}")
print(f"predict-the-mean test MAE: {mx.mean(mx.abs(yte - ytr.mean())).item():.2f} L/100kg, "
      f"reading noise sd 1.0 L/100kg")

with tempfile.TemporaryDirectory() as ckdir:
    # ---- session 1
    model, opt, step = build(seed=0)
    _, g = nn.value_and_grad(model, loss_fn)(model, Xtr[:64], ytr[:64])
    flat = tree_flatten(g)
    zero = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
    print(f"first-batch gradient: {len(flat)} leaves, zero leaves: {zero}")
    mae0, w20 = test_metrics(model)
    print(f"[s1] epoch  0  untrained            test MAE {mae0:5.2f} L/100kg  within 2 L: {w20:5.1f}%")
    run_epochs(model, opt, step, 1, 8, "s1")
    save_ckpt(ckdir, model, opt, 8)
    mae_saved, _ = test_metrics(model)
    print(f"checkpoint written after epoch 8 ({sorted(os.listdir(ckdir))}), test MAE {mae_saved:.2f}")
    del model, opt, step

    # ---- session 2: fresh objects, restore, continue
    model, opt, step = build(seed=123)
    start = load_ckpt(ckdir, model, opt)
    mae_loaded, _ = test_metrics(model)
    print(f"resumed from epoch {start}: test MAE after load {mae_loaded:.2f} (saved {mae_saved:.2f}), "
          f"adam step {opt.state['step'].item()}")
    run_epochs(model, opt, step, start + 1, 16, "s2")

mae, w2 = test_metrics(model)
print(f"done: test MAE {mae:.2f} L/100kg (noise floor ~0.80), within 2 L {w2:.1f}%")
