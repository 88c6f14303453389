"""Tidepool census: which of 5 intertidal species are present in a rock pool.

Synthetic survey data (7 pool features -> 5 presence labels), a dropout MLP,
Adamax with a linear warm-up from exactly 0, a mid-run checkpoint that is
reloaded into a fresh model/optimizer (the run continues from the reload),
then a second stage with a fresh warm-up at a lower peak.  Validation is run
in eval mode every 50 steps, reported beside the same loss with dropout on and
beside a prevalence-only baseline.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SPECIES = ["anemone", "hermit", "limpet", "sculpin", "urchin"]
rng = np.random.default_rng(2024)
mx.random.seed(11)


def survey(n):
    elev = rng.uniform(0.0, 3.0, n)            # m above chart datum
    vol = rng.lognormal(0.0, 0.8, n)           # m^3
    exposure = elev * 2.2 + rng.normal(0, 0.6, n)  # hours emersed per tide
    tmax = 12 + 2.5 * exposure / (1 + vol) + rng.normal(0, 1.0, n)
    sal = 33 + 0.8 * exposure - 0.5 * vol + rng.normal(0, 0.7, n)
    wave = rng.uniform(0, 1, n)
    granite = (rng.uniform(0, 1, n) < 0.4).astype(np.float64)
    x = np.stack([elev, np.log(vol), exposure, tmax, sal, wave, granite], 1)
    z = np.stack([
        1.5 - 1.2 * elev + 0.8 * np.log(vol) - 0.25 * (tmax - 16),
        0.5 - 0.4 * elev + 0.9 * wave + 0.6 * granite,
        -0.5 + 0.9 * elev + 1.2 * wave - 0.3 * np.log(vol),
        -1.0 + 1.4 * np.log(vol) - 0.9 * elev - 0.35 * (tmax - 16),
        0.2 - 1.5 * elev + 1.0 * granite * wave - 0.5 * (sal - 34),
    ], 1)
    p = 1 / (1 + np.exp(-z))
    y = (rng.uniform(0, 1, p.shape) < p).astype(np.float32)
    return x.astype(np.float32), y


x_tr, y_tr = survey(6000)
x_va, y_va = survey(1500)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
X_tr, Y_tr, X_va, Y_va = map(mx.array, (x_tr, y_tr, x_va, y_va))
prev = y_tr.mean(0)


class PoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(7, 96), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(96, 96), nn.ReLU(), nn.Dropout(0.3),
        )
        self.out = nn.Linear(96, len(SPECIES))

    def __call__(self, x):
        return self.out(self.body(x))


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def macro_f1(logits, y):
    pred = (logits > 0).astype(mx.float32)
    tp = (pred * y).sum(0)
    fp = (pred * (1 - y)).sum(0)
    fn = ((1 - pred) * y).sum(0)
    return (2 * tp / mx.maximum(2 * tp + fp + fn, 1)).mean().item()


def validate(model):
    model.eval()
    logits = model(X_va)
    loss_eval = nn.losses.binary_cross_entropy(logits, Y_va, with_logits=True).item()
    f1 = macro_f1(logits, Y_va)
    model.train()
    loss_drop = bce(model, X_va, Y_va).item()  # same weights, dropout active
    return loss_eval, loss_drop, f1


base_p = np.clip(prev, 1e-6, 1 - 1e-6)
BASE_BCE = float(-(y_va * np.log(base_p) + (1 - y_va) * np.log(1 - base_p)).mean())
BASE_F1 = float(np.mean(2 * y_va.sum(0) / (2 * y_va.sum(0) + (1 - y_va).sum(0))))  # all-present guess


def make_opt(peak, warm):
    return optim.Adamax(learning_rate=optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, 400, peak * 0.05)], [warm]))


def run_stage(model, opt, start, stop, tag, log_every=50):
    step_fn = nn.value_and_grad(model, bce)
    window = []
    for it in range(start, stop):
        idx = mx.array(rng.integers(0, X_tr.shape[0], 128))
        loss, grads = step_fn(model, X_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (it + 1) % log_every == 0:
            ve, vd, f1 = validate(model)
            lr = opt.learning_rate.item()
            print(f"tp,{it + 1},{tag},{lr:.2e},{np.mean(window):.4f},{ve:.4f},{vd:.4f},{BASE_BCE:.4f},{f1:.3f},{BASE_F1:.3f}", flush=True)
            window = []


def save_ckpt(path, model, opt):
    flat = {"model." + k: v for k, v in tree_flatten(model.parameters())}
    flat.update({"opt." + k: v for k, v in tree_flatten(opt.state)})
    mx.save_safetensors(path, flat)


def load_ckpt(path, model, opt):
    flat = mx.load(path)
    model.load_weights([(k[6:], v) for k, v in flat.items() if k.startswith("model.")])
    opt.state = tree_unflatten([(k[4:], v) for k, v in flat.items() if k.startswith("opt.")])


t0 = time.time()
print(f"# pools train={len(x_tr)} valid={len(x_va)} prevalence " + " ".join(f"{s}={p:.2f}" for s, p in zip(SPECIES, prev)))
print("tp,step,stage,lr,train_bce,val_bce_eval,val_bce_dropout,val_bce_prevalence,val_macro_f1,f1_all_present")

model = PoolNet()
mx.eval(model.parameters())
ve, vd, f1 = validate(model)
print(f"tp,0,init,0.00e+00,nan,{ve:.4f},{vd:.4f},{BASE_BCE:.4f},{f1:.3f},{BASE_F1:.3f}")

opt = make_opt(3e-3, 80)
run_stage(model, opt, 0, 200, "A")

ckpt = os.path.join(tempfile.mkdtemp(), "stageA_step200.safetensors")
save_ckpt(ckpt, model, opt)
ref = validate(model)[0]
model = PoolNet()
opt = make_opt(3e-3, 80)
opt.init(model.trainable_parameters())
load_ckpt(ckpt, model, opt)
mx.eval(model.parameters(), opt.state)
print(f"# resumed from {os.path.basename(ckpt)}: val_bce_eval {validate(model)[0]:.4f} (before save {ref:.4f}), opt step {opt.step.item()}")

run_stage(model, opt, 200, 400, "A")

opt = make_opt(1e-3, 60)  # stage B: fresh optimizer, warm-up from 0 again
run_stage(model, opt, 400, 700, "B")

ve, vd, f1 = validate(model)
print(f"# final val_bce_eval {ve:.4f} vs prevalence {BASE_BCE:.4f}; macro F1 {f1:.3f} vs all-present {BASE_F1:.3f}; {time.time() - t0:.1f}s")
