"""Ski-wax testing: glide time (s) over a 60 m test slope from five readings
(snow temperature, humidity, crystal age, wax hardness, base structure).
Heteroscedastic Gaussian model (mean and log-variance heads) trained with the
Gaussian NLL, which goes negative once the predicted spread is small.
Two sessions in one script: session 1 writes a checkpoint, session 2 builds
fresh objects, restores them and continues the same schedule.
"""
import json
import os
import tempfile
import time
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)


def make_runs(n):
    temp = rng.uniform(-18, 0, n)
    hum = rng.uniform(40, 95, n)
    age = rng.uniform(0, 10, n)
    hard = rng.uniform(0, 1, n)
    struct = rng.uniform(0, 1, n)
    match = -((hard - (-temp / 18.0)) ** 2)
    mean = 7.2 - 0.6 * match + 0.012 * hum + 0.05 * age - 0.2 * struct * (temp > -6)
    spread = 0.02 + 0.06 * (temp > -4) + 0.01 * age / 10
    y = mean + rng.normal(0, 1, n) * spread
    x = np.stack([temp / 10, (hum - 70) / 20, age / 5, hard, struct], 1)
    return x.astype(np.float32), y.astype(np.float32), spread


x_tr, y_tr, _ = make_runs(6000)
x_va, y_va, s_va = make_runs(1000)
y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
Xtr, Xva = mx.array(x_tr), mx.array(x_va)
Ytr, Yva = mx.array((y_tr - y_mu) / y_sd), mx.array((y_va - y_mu) / y_sd)
oracle_nll = float(np.mean(0.5 * np.log(2 * np.pi * (s_va / y_sd) ** 2) + 0.5))


class GlideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def nll(model, x, y):
    m, lv = model(x)
    return (0.5 * (lv + (y - m) ** 2 * mx.exp(-lv)) + 0.5 * np.log(2 * np.pi)).mean()


EPOCHS_1, EPOCHS_2, BATCH = 30, 30, 120
STEPS_EP = len(x_tr) // BATCH
TOTAL = (EPOCHS_1 + EPOCHS_2) * STEPS_EP
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 150), optim.cosine_decay(3e-3, TOTAL - 150, 1e-5)], [150])


def fresh(seed):
    mx.random.seed(seed)
    model = GlideNet()
    mx.eval(model.parameters())
    return model, optim.Adam(learning_rate=sched)


def emit(**kw):
    print(json.dumps(kw), flush=True)


def run(model, opt, first_epoch, n_epochs, window):
    vg = nn.value_and_grad(model, nll)
    for ep in range(first_epoch, first_epoch + n_epochs):
        perm = mx.array(rng.permutation(len(x_tr)))
        for i in range(STEPS_EP):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
        if ep % 5 == 0:
            m, lv = model(Xva)
            rmse_s = float(mx.sqrt(((m - Yva) ** 2).mean())) * y_sd
            emit(event="epoch", epoch=ep, step=int(opt.step), lr=round(float(opt.learning_rate), 6),
                 train_nll_window=round(sum(window) / len(window), 4),
                 valid_nll=round(nll(model, Xva, Yva).item(), 4),
                 valid_rmse_s=round(rmse_s, 4),
                 mean_pred_sd_s=round(float(mx.exp(0.5 * lv).mean()) * y_sd, 4))


t0 = time.time()
emit(event="data", train=len(x_tr), valid=len(x_va), oracle_valid_nll=round(oracle_nll, 4),
     constant_valid_nll=round(float(0.5 * np.log(2 * np.pi * np.var((y_va - y_mu) / y_sd)) + 0.5), 4))
window = deque(maxlen=STEPS_EP)

model, opt = fresh(0)
emit(event="session", n=1, lr_first=float(sched(mx.array(0))))
run(model, opt, 1, EPOCHS_1, window)

ckpt = tempfile.mkdtemp("_glide")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
ref = nll(model, Xva, Yva).item()
emit(event="checkpoint", dir=os.path.basename(ckpt), step=int(opt.step), valid_nll=round(ref, 4))
del model, opt

model, opt = fresh(123)
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
emit(event="resumed", step=int(opt.step), valid_nll=round(nll(model, Xva, Yva).item(), 4),
     matches=abs(nll(model, Xva, Yva).item() - ref) < 1e-6)
run(model, opt, EPOCHS_1 + 1, EPOCHS_2, window)
emit(event="done", secs=round(time.time() - t0, 1))
