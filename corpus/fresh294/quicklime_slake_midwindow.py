"""Lime kiln quality lab: slaking reactivity t60 (s) of a quicklime batch.

Heteroscedastic regression (mean and log-variance heads, Gaussian NLL in nats).
Each optimizer update sums 4 micro-batches of 24 samples, divides by 4 and clips
to global norm 1.0.  The run is stopped in the middle of an accumulation window,
written to disk (weights, optimizer state, partial gradient sum, counters) and
resumed by a fresh model/optimizer; an uninterrupted run is the reference.
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

gen = np.random.default_rng(3)
N_TR, N_VA = 6000, 1500


def kiln_batches(n):
    temp = gen.uniform(900, 1250, n)        # burning zone, deg C
    resid = gen.uniform(3, 40, n)           # residence time, min
    size = gen.uniform(10, 80, n)           # stone size, mm
    mgo = gen.uniform(0.2, 6.0, n)          # MgO %
    co2 = gen.uniform(0.1, 4.0, n)          # residual CO2 %
    fuel = gen.integers(0, 2, n)            # 0 gas, 1 coke
    over = np.maximum(temp - 1100, 0) / 100 * resid / 20
    t60 = 40 + 120 * over ** 1.3 + 8 * co2 + 3 * mgo + 0.2 * size + 15 * fuel
    noise_sd = 3 + 10 * (fuel == 1) + 4 * over   # coke-fired, hard-burnt lime scatters more
    y = t60 + gen.normal(0, 1, n) * noise_sd
    X = np.stack([(temp - 1075) / 100, (resid - 21) / 11, (size - 45) / 20,
                  (mgo - 3) / 1.7, (co2 - 2) / 1.1, fuel * 2.0 - 1], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = kiln_batches(N_TR)
Xva, yva = kiln_batches(N_VA)
Y_MU, Y_SD = float(ytr.mean()), float(ytr.std())
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
ztr_m, zva_m = mx.array((ytr - Y_MU) / Y_SD), mx.array((yva - Y_MU) / Y_SD)


class SlakeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l2(nn.silu(self.l1(x))))
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def nll(model, x, z):
    m, lv = model(x)
    return mx.mean(0.5 * (lv + (z - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi)))


MICRO, K, CLIP, UPDATES, WARM = 24, 4, 1.0, 300, 40
STOP_AT_MICRO = 150 * K + 2          # 150 full updates plus 2 micro-batches of the next
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, UPDATES - WARM, 1e-4)], [WARM])


def micro_indices(m):
    return mx.array(np.random.default_rng(10_000 + m).integers(0, N_TR, MICRO))


def evaluate(model):
    m, lv = model(Xva_m)
    v_nll = mx.mean(0.5 * (lv + (zva_m - m) ** 2 * mx.exp(-lv) + np.log(2 * np.pi))).item()
    mae_s = mx.mean(mx.abs(m - zva_m)).item() * Y_SD
    cover = mx.mean((mx.abs(zva_m - m) < 1.2816 * mx.exp(0.5 * lv)).astype(mx.float32)).item()
    return v_nll, mae_s, cover


def new_run(seed):
    mx.random.seed(seed)
    model = SlakeNet()
    opt = optim.Adam(learning_rate=schedule)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    return model, opt


def train(model, opt, m_start, m_end, acc=None, in_window=0, loss_sum=0.0, log=None):
    step = nn.value_and_grad(model, nll)
    for m in range(m_start, m_end):
        idx = micro_indices(m)
        loss, g = step(model, Xtr_m[idx], ztr_m[idx])
        acc = g if acc is None else tree_map(mx.add, acc, g)
        mx.eval(acc, loss)
        loss_sum += loss.item()
        in_window += 1
        if in_window == K:
            mean_g = tree_map(lambda a: a / K, acc)
            clipped, norm = optim.clip_grad_norm(mean_g, CLIP)
            lr_now = float(schedule(opt.state["step"]))
            opt.update(model, clipped)
            mx.eval(model.parameters(), opt.state)
            upd = int(opt.state["step"])
            if log is not None:
                log(upd, lr_now, loss_sum / K, norm.item())
            acc, in_window, loss_sum = None, 0, 0.0
    return acc, in_window, loss_sum


# ---- reference: one uninterrupted run, silent ----
t0 = time.time()
ref_model, ref_opt = new_run(seed=21)
train(ref_model, ref_opt, 0, UPDATES * K)
ref_eval = evaluate(ref_model)

# ---- session A ----
const_nll = 0.5 * (np.log(1.0) + 1.0 + np.log(2 * np.pi))
print(f"{'sess':>4} {'upd':>5} {'lr':>9} {'train_nll':>10} {'val_nll':>9} {'const_nll':>9} {'mae_s':>7} {'cover80':>8} {'|g|':>7}")


def make_log(sess, model):
    def log(upd, lr_now, tr, gn):
        if upd == 1 or upd % 50 == 0:
            v, mae, cov = evaluate(model)
            print(f"{sess:>4} {upd:>5} {lr_now:>9.2e} {tr:>10.4f} {v:>9.4f} {const_nll:>9.4f} {mae:>7.2f} {cov*100:>7.1f}% {gn:>7.3f}")
    return log


model, opt = new_run(seed=21)
acc, in_window, loss_sum = train(model, opt, 0, STOP_AT_MICRO, log=make_log("A", model))
ckdir = tempfile.mkdtemp(None, "kiln_")
model.save_weights(os.path.join(ckdir, "w.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
mx.save_safetensors(os.path.join(ckdir, "acc.safetensors"), dict(tree_flatten(acc)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"next_micro": STOP_AT_MICRO, "in_window": in_window, "loss_sum": loss_sum}, f)
print(f"---- saved after micro-batch {STOP_AT_MICRO} (update {int(opt.state['step'])}, "
      f"{in_window}/{K} of the next window held) ----")
del model, opt, acc

# ---- session B: fresh objects, different seed, then restore ----
model, opt = new_run(seed=999)
model.load_weights(os.path.join(ckdir, "w.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
acc = tree_unflatten(list(mx.load(os.path.join(ckdir, "acc.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    meta = json.load(f)
shutil.rmtree(ckdir)
print(f"---- restored: optimizer step {int(opt.state['step'])}, window {meta['in_window']}/{K} ----")
train(model, opt, meta["next_micro"], UPDATES * K, acc=acc, in_window=meta["in_window"],
      loss_sum=meta["loss_sum"], log=make_log("B", model))

diff = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
           zip(tree_flatten(model.parameters()), tree_flatten(ref_model.parameters())))
v, mae, cov = evaluate(model)
print(f"resumed vs uninterrupted: max |param diff| = {diff:.3g}; val_nll {v:.4f} vs {ref_eval[0]:.4f}")
print(f"val MAE {mae:.2f} s (predict-the-mean {float(np.mean(np.abs(yva - Y_MU))):.2f} s), "
      f"80% interval coverage {cov*100:.1f}%, {time.time() - t0:.1f}s")
