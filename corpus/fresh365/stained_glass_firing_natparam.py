"""Stained-glass studio: colour loss (%) of vitreous glass paint after a kiln
firing, predicted with its own spread.

Heteroscedastic Gaussian head in NATURAL parameters (eta1 = mu / s^2,
eta2 = -1 / (2 s^2)), NLL written in exponential-family form.
Matrices are trained with Muon, biases with AdamW (MultiOptimizer).
The run is split into two sessions with a checkpoint in between.
"""

import json
import math
import os
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3650)


def firing_log(n):
    layer_um = rng.uniform(10, 60, n)          # painted layer thickness
    peak_c = rng.uniform(600, 700, n)          # kiln peak temperature
    soak_min = rng.uniform(0, 20, n)
    lead = rng.uniform(0, 1, n)                # lead content of the base glass
    frit = rng.uniform(0.3, 0.8, n)            # frit share of the paint
    cool = rng.uniform(50, 300, n)             # cooling rate, C per hour
    z = (peak_c - 650) / 25
    loss = (8 + 5 * np.tanh(z) + 0.08 * soak_min * (1 + lead) + 6 * (frit - 0.55) ** 2 * 10
            - 0.05 * (layer_um - 35) + 0.004 * (cool - 175))
    sd = 0.4 + 1.6 / (1 + np.exp(-2 * z)) + 0.5 * lead    # hotter firings scatter more
    y = loss + sd * rng.standard_normal(n)
    x = np.stack([layer_um, peak_c, soak_min, lead, frit, cool], 1)
    return x.astype(np.float32), y.astype(np.float32), sd.astype(np.float32)


x_tr, y_tr, _ = firing_log(10000)
x_va, y_va, sd_va = firing_log(2000)
mx_, sx_ = x_tr.mean(0), x_tr.std(0)
my_, sy_ = y_tr.mean(), y_tr.std()
Xtr, Xva = mx.array((x_tr - mx_) / sx_), mx.array((x_va - mx_) / sx_)
Ytr, Yva = mx.array((y_tr - my_) / sy_), mx.array((y_va - my_) / sy_)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class NaturalGaussian(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 2)

    def __call__(self, x):
        h = nn.silu(self.l2(nn.silu(self.l1(x))))
        raw = self.out(h)
        eta1 = raw[:, 0]
        eta2 = -(nn.softplus(raw[:, 1]) + 1e-3)
        return eta1, eta2


def nll(eta1, eta2, y):
    # -log N(y | mu, s^2) with mu = -eta1/(2 eta2), s^2 = -1/(2 eta2)
    log_partition = -eta1 ** 2 / (4 * eta2) - 0.5 * mx.log(-2 * eta2)
    return -(eta1 * y + eta2 * y ** 2) + log_partition + HALF_LOG_2PI


def loss_fn(model, x, y):
    e1, e2 = model(x)
    return nll(e1, e2, y).mean()


def moments(model, x):
    e1, e2 = model(x)
    var = -1.0 / (2 * e2)
    return -e1 / (2 * e2), var


def make_optimizer():
    return optim.MultiOptimizer(
        [optim.Muon(learning_rate=0.02, momentum=0.95, weight_decay=0.0),
         optim.AdamW(learning_rate=2e-3, weight_decay=0.0)],
        [lambda path, w: w.ndim == 2],
    )


def evaluate(model):
    e1, e2 = model(Xva)
    v_nll = nll(e1, e2, Yva).mean().item()
    mu, var = moments(model, Xva)
    mu_c = np.array(mu) * sy_ + my_
    sd_c = np.sqrt(np.array(var)) * sy_
    rmse = float(np.sqrt(np.mean((mu_c - y_va) ** 2)))
    inside = np.abs(y_va - mu_c) <= 1.6449 * sd_c
    sd_err = float(np.mean(np.abs(sd_c - sd_va)))
    return v_nll, rmse, 100.0 * inside.mean(), sd_err


def section(name, **kv):
    print(f"[{name}]")
    for k, v in kv.items():
        print(f"{k} = {v:.4f}" if isinstance(v, float) else f"{k} = {v}")
    print(flush=True)


BATCH = 128


def run_epochs(model, opt, first, last, tag, t0):
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    for ep in range(first, last + 1):
        perm = rng.permutation(len(y_tr))
        tot, nb = 0.0, 0
        for s in range(0, len(perm) - BATCH + 1, BATCH):
            idx = mx.array(perm[s:s + BATCH])
            loss = step(Xtr[idx], Ytr[idx])
            mx.eval(loss, state)
            tot += loss.item()
            nb += 1
        v_nll, rmse, cov, sd_err = evaluate(model)
        section(f"{tag}.epoch{ep:02d}", train_nll=tot / nb, valid_nll=v_nll, valid_rmse_pct_points=rmse,
                cover90_pct=cov, spread_error_pct_points=sd_err, secs=time.perf_counter() - t0)


t0 = time.perf_counter()
mx.random.seed(11)
model = NaturalGaussian(6)
mx.eval(model.parameters())

_, g = nn.value_and_grad(model, loss_fn)(model, Xtr[:BATCH], Ytr[:BATCH])
flat = tree_flatten(g)
section("setup", rows_train=len(y_tr), rows_valid=len(y_va), grad_leaves=len(flat),
        zero_grad_leaves=sum(float(mx.abs(v).sum()) == 0.0 for _, v in flat),
        homoscedastic_baseline_nll=0.5 * math.log(2 * math.pi * float(np.var((y_va - my_) / sy_))) + 0.5,
        matrices_on_muon=sum(v.ndim == 2 for _, v in tree_flatten(model.parameters())))
v0 = evaluate(model)
section("untrained", valid_nll=v0[0], valid_rmse_pct_points=v0[1], cover90_pct=v0[2])

opt = make_optimizer()
run_epochs(model, opt, 1, 5, "session1", t0)

with tempfile.TemporaryDirectory() as ckdir:
    model.save_weights(os.path.join(ckdir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "optim.safetensors"), dict(tree_flatten(opt.state)))
    saved_nll = evaluate(model)[0]
    with open(os.path.join(ckdir, "meta.json"), "w") as f:
        json.dump({"epoch": 5, "valid_nll": saved_nll}, f)
    del model, opt

    with open(os.path.join(ckdir, "meta.json")) as f:
        meta = json.load(f)
    model = NaturalGaussian(6)
    model.load_weights(os.path.join(ckdir, "weights.safetensors"))
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "optim.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    resumed_nll = evaluate(model)[0]
    section("resume", from_epoch=meta["epoch"], saved_valid_nll=meta["valid_nll"],
            reloaded_valid_nll=resumed_nll, match=abs(resumed_nll - meta["valid_nll"]) < 1e-5)

run_epochs(model, opt, meta["epoch"] + 1, 10, "session2", t0)
fin = evaluate(model)
section("done", valid_nll=fin[0], valid_rmse_pct_points=fin[1], cover90_pct=fin[2],
        spread_error_pct_points=fin[3], secs=time.perf_counter() - t0)
