"""Hat-felt shrinkage regression, trained across three 'allocations' of a shared box.

Each allocation gets a different batch size (elastic training). Between allocations the
run is checkpointed (weights, optimizer momentum, sample counter, numpy rng) and a fresh
process-like rebuild restores it. The learning rate is a function of samples seen, with a
linear warm-up from exactly 0 and linear scaling by batch size.
Output: logfmt lines (key=value).
"""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_TRAIN, N_VAL = 6000, 1500
BASE_LR = 0.02          # for a batch of 64
BASE_BATCH = 64
WARM_SAMPLES = 8000
TOTAL_SAMPLES = 96000
ALLOCS = [(64, 24000), (256, 48000), (128, 24000)]   # (batch, samples) per allocation


def make_felt(n, rng):
    # steam minutes, fur blend (rabbit share), bath temp, acid pH, planking passes, hood weight
    steam = rng.uniform(2, 12, n)
    rabbit = rng.uniform(0, 1, n)
    temp = rng.uniform(60, 95, n)
    ph = rng.uniform(2.5, 6.0, n)
    passes = rng.integers(2, 14, n).astype(np.float64)
    weight = rng.uniform(80, 160, n)
    shrink = (18 + 6 * np.tanh((temp - 78) / 8) + 0.9 * passes - 0.03 * (passes - 8) ** 2
              - 1.8 * (ph - 4) + 3.0 * rabbit * np.log1p(steam) - 0.02 * (weight - 120))
    y = shrink + rng.normal(0, 1.2, n)   # percent area shrink, noise floor 1.2 pt
    x = np.stack([steam, rabbit, temp, ph, passes, weight], 1)
    return x.astype(np.float32), y.astype(np.float32)


class FeltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 48), nn.LayerNorm(48), nn.SiLU(),
                                  nn.Linear(48, 48), nn.SiLU())
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def lr_at(samples, batch):
    scale = batch / BASE_BATCH
    peak = BASE_LR * min(scale, 2.0)
    if samples < WARM_SAMPLES:
        return peak * samples / WARM_SAMPLES
    frac = (samples - WARM_SAMPLES) / (TOTAL_SAMPLES - WARM_SAMPLES)
    return peak * max(0.05, 1.0 - frac)


def logfmt(**kw):
    parts = []
    for k, v in kw.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        parts.append(f"{k}={v}")
    print(" ".join(parts), flush=True)


def build(seed):
    mx.random.seed(seed)
    model = FeltNet()
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
    mx.eval(model.parameters())
    return model, opt


def save_ckpt(folder, model, opt, samples, step, rng):
    model.save_weights(os.path.join(folder, "felt.safetensors"))
    mx.save_safetensors(os.path.join(folder, "felt_opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "progress.json"), "w") as f:
        json.dump({"samples": samples, "step": step, "rng": rng.bit_generator.state}, f)


def load_ckpt(folder, model, opt):
    model.load_weights(os.path.join(folder, "felt.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "felt_opt.safetensors")).items()))
    with open(os.path.join(folder, "progress.json")) as f:
        meta = json.load(f)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    mx.eval(model.parameters(), opt.state)
    return meta["samples"], meta["step"], rng


def main():
    data_rng = np.random.default_rng(11)
    xtr, ytr = make_felt(N_TRAIN, data_rng)
    xva, yva = make_felt(N_VAL, data_rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    ym, ys = ytr.mean(), ytr.std()
    Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
    Ytr, Yva = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

    mean_rmse = float(np.sqrt(np.mean((yva - ym) ** 2)))
    logfmt(event="data", train=N_TRAIN, val=N_VAL, mean_baseline_rmse_pt=mean_rmse, noise_floor_pt=1.2)

    def loss_fn(model, x, y):
        return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")

    def val_rmse(model):
        pred = model(Xva) * ys + ym
        return mx.sqrt(mx.mean((pred - mx.array(yva)) ** 2)).item()

    folder = tempfile.mkdtemp(prefix="felt_")
    samples, step = 0, 0
    rng = np.random.default_rng(5)
    t0 = time.time()
    for alloc, (batch, budget) in enumerate(ALLOCS, start=1):
        model, opt = build(seed=100 + alloc)
        if alloc > 1:
            before = val_rmse(model)
            samples, step, rng = load_ckpt(folder, model, opt)
            logfmt(event="resume", alloc=alloc, fresh_init_val_rmse_pt=before,
                   restored_val_rmse_pt=val_rmse(model), samples=samples, step=step,
                   opt_step=int(opt.state["step"].item()))
        vg = nn.value_and_grad(model, loss_fn)
        logfmt(event="alloc_start", alloc=alloc, batch=batch, lr_now=lr_at(samples, batch))
        end = samples + budget
        window = []
        while samples < end:
            idx = mx.array(rng.integers(0, N_TRAIN, batch))
            opt.learning_rate = lr_at(samples, batch)
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            if step == 0:
                gmax = max(mx.abs(g).max().item() for _, g in tree_flatten(grads))
                logfmt(event="grad_check", step=0, lr=float(opt.learning_rate.item()), max_abs_grad=gmax,
                       note="first update is a no-op at lr 0")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            samples += batch
            step += 1
            # allocation 2 runs quietly; the others report every 6000 samples
            if alloc != 2 and samples % 6000 < batch:
                logfmt(alloc=alloc, step=step, samples=samples, lr=float(opt.learning_rate.item()),
                       train_huber=float(np.mean(window)), val_rmse_pt=val_rmse(model),
                       mean_baseline_rmse_pt=mean_rmse)
                window = []
        logfmt(event="alloc_end", alloc=alloc, step=step, samples=samples, val_rmse_pt=val_rmse(model),
               secs=round(time.time() - t0, 1))
        if alloc < len(ALLOCS):
            save_ckpt(folder, model, opt, samples, step, rng)
            logfmt(event="checkpoint", alloc=alloc, files=len(os.listdir(folder)))
            del model, opt, vg
    logfmt(event="done", samples=samples, steps=step, final_val_rmse_pt=val_rmse(model),
           mean_baseline_rmse_pt=mean_rmse, noise_floor_pt=1.2)


if __name__ == "__main__":
    main()
