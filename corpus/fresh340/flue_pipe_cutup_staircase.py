"""Organ-pipe voicing: predict the pitch offset (cents) of a flue pipe from its
measured scaling, so the voicer knows how much to trim before the pipe goes on
the wind chest.

Learning rate: linear warm-up from 0 over 40 updates, then a staircase
(step_decay, halved every 150 updates).  Four micro-batches are accumulated
per optimizer update.  At update 300 the run is checkpointed to disk, every
object is thrown away, and training resumes from the files.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

SEED = 11
N_TRAIN, N_VALID = 9000, 1500
MICRO = 32
ACCUM = 4
WARMUP = 40
PEAK_LR = 3e-3
TOTAL_UPDATES = 600
CHECKPOINT_AT = 300


def make_pipes(n, rng):
    length = rng.uniform(0.15, 2.4, n)           # speaking length, m
    diam = rng.uniform(0.02, 0.12, n)            # m
    mouth = rng.uniform(0.18, 0.30, n)           # mouth width / circumference
    cutup = rng.uniform(0.18, 0.40, n)           # cut-up / mouth width
    wind = rng.uniform(55, 95, n)                # wind pressure, mm water
    nicks = rng.integers(0, 4, n).astype(np.float64)  # languid nicking depth class
    # made-up voicing law for the offset from nominal pitch, in cents
    end_corr = 0.6 * diam / length
    cents = (-1731.0 * np.log1p(end_corr)
             + 38.0 * np.log(wind / 75.0)
             - 95.0 * (cutup - 0.28)
             + 22.0 * (mouth - 0.24) * 10
             - 3.0 * nicks
             + 6.0 * np.sin(6.0 * cutup) * (wind / 75.0))
    cents = cents + rng.normal(0, 2.0, n)
    x = np.stack([np.log(length), np.log(diam), mouth, cutup, wind / 75.0, nicks], 1)
    return x.astype(np.float32), cents.astype(np.float32)


class Voicer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.hid = nn.Linear(64, 64)
        self.norm = nn.LayerNorm(64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.hid(self.norm(h)))
        return self.out(h).squeeze(-1)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def build_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    stairs = optim.step_decay(PEAK_LR, 0.5, 150)
    return optim.join_schedules([warm, stairs], [WARMUP])


def logfmt(**kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.5g}")
        else:
            parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    xtr, ytr = make_pipes(N_TRAIN, rng)
    xva, yva = make_pipes(N_VALID, rng)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    xtr_s, xva_s = (xtr - mu) / sd, (xva - mu) / sd
    ytr_s, yva_s = (ytr - ymu) / ysd, (yva - ymu) / ysd

    # voicer's rule of thumb: least squares on the raw measurements
    A = np.concatenate([xtr_s, np.ones((N_TRAIN, 1), np.float32)], 1)
    coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
    Av = np.concatenate([xva_s, np.ones((N_VALID, 1), np.float32)], 1)
    base_mae = float(np.abs(Av @ coef - yva).mean())
    logfmt(event="data", train=N_TRAIN, valid=N_VALID, cents_mean=ymu, cents_sd=ysd,
           lstsq_valid_mae_cents=base_mae, micro=MICRO, accum=ACCUM)

    Xtr, Ytr = mx.array(xtr_s), mx.array(ytr_s)
    Xva, Yva = mx.array(xva_s), mx.array(yva_s)

    def valid_mae(model):
        pred = model(Xva) * ysd + ymu
        return float(mx.abs(pred - (Yva * ysd + ymu)).mean())

    mx.random.seed(SEED)
    model = Voicer()
    opt = optim.AdamW(learning_rate=build_schedule(), weight_decay=1e-4)
    mx.eval(model.parameters())
    loss_and_grad = nn.value_and_grad(model, huber)
    logfmt(event="untrained", valid_mae_cents=valid_mae(model))

    order = rng.permutation(N_TRAIN)
    cursor = 0

    def next_micro():
        nonlocal order, cursor
        if cursor + MICRO > N_TRAIN:
            order = rng.permutation(N_TRAIN)
            cursor = 0
        idx = mx.array(order[cursor:cursor + MICRO])
        cursor += MICRO
        return Xtr[idx], Ytr[idx]

    ckpt_dir = tempfile.mkdtemp(prefix="voicing_")
    update = 0
    window = []
    while update < TOTAL_UPDATES:
        acc = None
        acc_loss = 0.0
        for _ in range(ACCUM):
            xb, yb = next_micro()
            loss, grads = loss_and_grad(model, xb, yb)
            acc = grads if acc is None else tree_map(lambda a, b: a + b, acc, grads)
            acc_loss += loss
        acc = tree_map(lambda g: g / ACCUM, acc)
        if update == 0:
            leaves = tree_flatten(acc)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            logfmt(event="grad_check", leaves=len(leaves), zero_leaves=len(zero))
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, acc_loss)
        update += 1
        window.append(float(acc_loss) / ACCUM)
        window = window[-25:]
        if update in (1, 20, 40) or update % 150 == 0 or update == TOTAL_UPDATES:
            logfmt(event="update", n=update, lr=float(opt.learning_rate),
                   train_huber=float(np.mean(window)), valid_mae_cents=valid_mae(model),
                   secs=round(time.time() - t0, 1))

        if update == CHECKPOINT_AT:
            model.save_weights(os.path.join(ckpt_dir, "voicer.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            with open(os.path.join(ckpt_dir, "cursor.json"), "w") as f:
                json.dump({"update": update, "cursor": cursor,
                           "order": order.tolist()}, f)
            before = valid_mae(model)
            del model, opt, loss_and_grad
            mx.random.seed(SEED + 99)
            model = Voicer()
            model.load_weights(os.path.join(ckpt_dir, "voicer.safetensors"))
            opt = optim.AdamW(learning_rate=build_schedule(), weight_decay=1e-4)
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            with open(os.path.join(ckpt_dir, "cursor.json")) as f:
                saved = json.load(f)
            cursor = saved["cursor"]
            order = np.array(saved["order"])
            loss_and_grad = nn.value_and_grad(model, huber)
            mx.eval(model.parameters())
            logfmt(event="resumed", at_update=saved["update"], step_in_state=int(opt.state["step"]),
                   lr=float(opt.learning_rate), valid_mae_before=before,
                   valid_mae_after=valid_mae(model))

    final = valid_mae(model)
    within5 = float((mx.abs(model(Xva) * ysd + ymu - (Yva * ysd + ymu)) < 5.0).mean()) * 100
    logfmt(event="done", updates=update, valid_mae_cents=final, lstsq_mae_cents=base_mae,
           within_5_cents_pct=within5, secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
